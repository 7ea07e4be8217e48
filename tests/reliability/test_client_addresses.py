"""The client's address behind reverse proxies, believed only from trusted ones, and IPv6 clients
counted by their /64 network in the sign-in throttle."""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from site_machinery.addresses import address_bucket, client_address

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-correct-horse-password"


def address_of(remote: str, **headers: str):
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


def test_without_a_header_setting_the_client_is_the_connections_peer_whatever_it_sends(settings):
    settings.CLIENT_ADDRESS_HEADER = ""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert address_of("127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7") == ipaddress.ip_address("127.0.0.1")


def test_a_header_from_a_peer_that_is_no_trusted_proxy_is_ignored(settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    assert address_of("203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.7") == ipaddress.ip_address("203.0.113.9")


def test_x_forwarded_for_is_read_from_the_right_past_the_trusted_proxies_only(settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # The client wrote "1.2.3.4" itself; its proxy appended the address it saw, 198.51.100.7, and an
    # inner proxy appended the outer one's, 10.0.0.6.
    forwarded = "1.2.3.4, 198.51.100.7, 10.0.0.6"
    assert address_of("10.0.0.5", HTTP_X_FORWARDED_FOR=forwarded) == ipaddress.ip_address("198.51.100.7")


def test_x_forwarded_for_with_garbage_on_the_left_gives_the_last_readable_hop(settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert address_of("10.0.0.5", HTTP_X_FORWARDED_FOR="not-an-address, 10.0.0.7") == ipaddress.ip_address("10.0.0.7")


def test_x_real_ip_from_a_proxy_on_a_unix_socket(settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Real-IP"
    settings.TRUSTED_PROXIES = ["unix"]
    assert address_of("", HTTP_X_REAL_IP="2001:db8::7") == ipaddress.ip_address("2001:db8::7")
    # Over TCP the same header is a client's claim.
    assert address_of("127.0.0.1", HTTP_X_REAL_IP="2001:db8::7") == ipaddress.ip_address("127.0.0.1")


def test_ipv6_clients_share_a_bucket_per_64_network_and_mapped_ipv4_is_ipv4():
    assert address_bucket(ipaddress.ip_address("2001:db8:1:2:aaaa::1")) == "2001:db8:1:2::/64"
    assert address_bucket(ipaddress.ip_address("2001:db8:1:2:ffff:ffff:ffff:ffff")) == "2001:db8:1:2::/64"
    assert address_bucket(ipaddress.ip_address("2001:db8:1:3::1")) == "2001:db8:1:3::/64"
    assert address_of("::ffff:198.51.100.7") == ipaddress.ip_address("198.51.100.7")
    assert address_bucket(ipaddress.ip_address("198.51.100.7")) == "198.51.100.7"


@pytest.fixture
def throttled(settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    User.objects.create_user("bob", password=PASSWORD)


def sign_in(username: str, password: str, remote: str, **headers: str) -> int:
    return Client(REMOTE_ADDR=remote, **headers).post("/accounts/login/", {"username": username, "password": password}).status_code


def test_the_sign_in_throttle_counts_a_whole_ipv6_64_as_one_address(throttled, settings):
    # The test site answers loopback peers only (the development key), so the IPv6 clients come
    # through a trusted proxy on this machine.
    settings.CLIENT_ADDRESS_HEADER = "X-Real-IP"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    # Five user names guessed from five addresses of one /64: a sixth address of it is refused,
    # another /64 is not.
    for host, name in enumerate(("n1", "n2", "n3", "n4", "n5"), start=1):
        assert sign_in(name, "wrong", "127.0.0.1", HTTP_X_REAL_IP=f"2001:db8:1:2::{host}") == 200
    assert sign_in("bob", PASSWORD, "127.0.0.1", HTTP_X_REAL_IP="2001:db8:1:2:ffff::99") == 429
    assert sign_in("bob", PASSWORD, "127.0.0.1", HTTP_X_REAL_IP="2001:db8:1:3::1") == 302


def test_behind_a_trusted_proxy_the_throttle_sees_each_client_address(throttled, settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    for name in ("n1", "n2", "n3", "n4", "n5"):
        sign_in(name, "wrong", "127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5")
    assert sign_in("bob", PASSWORD, "127.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7") == 302
    # A client writing another address on the left is still 203.0.113.5 to the throttle.
    assert sign_in("bob", PASSWORD, "127.0.0.1", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5") == 429


def test_a_stranger_cannot_escape_the_throttle_by_sending_the_header_itself(throttled, settings):
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.TRUSTED_PROXIES = ["10.0.0.5"]
    for number, name in enumerate(("n1", "n2", "n3", "n4", "n5")):
        sign_in(name, "wrong", "127.0.0.44", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}")
    assert sign_in("bob", PASSWORD, "127.0.0.44", HTTP_X_FORWARDED_FOR="198.51.100.200") == 429
