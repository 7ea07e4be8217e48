"""Sign-in throttling: refused (429, with a message) after the configured number of failures for a
user name or from an address within the window, right password or not, and allowed again after it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

import study.security

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-correct-horse-password"


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def throttle(settings, monkeypatch):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 10
    clock = Clock()
    monkeypatch.setattr(study.security, "login_clock", clock)
    cache.clear()
    User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("bob", password=PASSWORD)
    yield clock
    cache.clear()


def sign_in(username: str, password: str, address: str = "10.0.0.1"):
    return Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})


def test_failures_below_the_limit_do_not_lock_anyone_out():
    for _ in range(2):
        assert sign_in("alice", "wrong").status_code == 200
    response = sign_in("alice", PASSWORD)
    assert response.status_code == 302


def test_after_the_limit_even_the_right_password_is_refused_with_a_message():
    for _ in range(3):
        assert sign_in("alice", "wrong").status_code == 200
    response = sign_in("alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert int(response["Retry-After"]) == 10 * 60 + 1
    assert "_auth_user_id" not in response.client.session


def test_a_user_name_is_throttled_whatever_address_it_comes_from():
    for number in range(3):
        sign_in("alice", "wrong", address=f"10.0.0.{number}")
    assert sign_in("alice", PASSWORD, address="192.168.1.1").status_code == 429
    assert sign_in("bob", PASSWORD, address="192.168.1.1").status_code == 302


def test_an_address_is_throttled_whatever_user_name_it_tries():
    for name in ("alice", "bob", "carol"):
        sign_in(name, "wrong", address="10.9.9.9")
    assert sign_in("bob", PASSWORD, address="10.9.9.9").status_code == 429
    assert sign_in("bob", PASSWORD, address="10.9.9.10").status_code == 302


def test_sign_ins_are_allowed_again_once_the_window_has_passed(throttle):
    for _ in range(3):
        sign_in("alice", "wrong")
        throttle.now += 60
    throttle.now += 7 * 60 - 1  # a second before the first failure leaves the 10-minute window
    assert sign_in("alice", PASSWORD).status_code == 429
    throttle.now += 1
    assert sign_in("alice", PASSWORD).status_code == 302


def test_refused_attempts_do_not_extend_the_refusal(throttle):
    for _ in range(3):
        sign_in("alice", "wrong")
    for _ in range(5):
        throttle.now += 60
        assert sign_in("alice", "wrong").status_code == 429
    throttle.now += 5 * 60 + 1
    assert sign_in("alice", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_user_names_failures():
    for _ in range(2):
        sign_in("alice", "wrong", address="10.0.0.1")
    assert sign_in("alice", PASSWORD, address="10.0.0.2").status_code == 302
    for _ in range(2):
        sign_in("alice", "wrong", address="10.0.0.3")
    assert sign_in("alice", PASSWORD, address="10.0.0.4").status_code == 302


def test_the_admin_sign_in_is_throttled_too():
    User.objects.filter(username="alice").update(is_staff=True)
    for _ in range(3):
        sign_in("alice", "wrong")
    response = Client(REMOTE_ADDR="10.0.0.7").post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in response.client.session


def test_behind_a_proxy_the_address_is_the_one_the_proxy_reports(settings):
    settings.LOGIN_CLIENT_ADDRESS_HEADER = "HTTP_X_FORWARDED_FOR"
    for _ in range(3):
        Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.5").post(
            "/accounts/login/", {"username": "nobody", "password": "x"}
        )
    behind = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert behind.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
    same = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.5")
    assert same.post("/accounts/login/", {"username": "bob", "password": PASSWORD}).status_code == 429


def test_tests_and_tools_that_force_a_sign_in_still_get_a_working_session():
    client = Client()
    client.force_login(User.objects.get(username="alice"))
    assert client.get("/").status_code == 200
