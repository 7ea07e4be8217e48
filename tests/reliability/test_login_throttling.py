"""Sign-in throttling: per pair of user name and address and per address, reserved before the password
is checked, locked out (429, with a message) beyond a limit, right password or not, with back-off.

The addresses are all loopback ones (127.0.0.0/8): the test site runs with the development key, which
answers this machine only.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

import site_machinery.security
from site_machinery.security import LoginThrottle, Refusal, Reservation

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
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 10
    clock = Clock()
    monkeypatch.setattr(site_machinery.security, "login_clock", clock)
    User.objects.create_user("alice", password=PASSWORD)
    User.objects.create_user("bob", password=PASSWORD)
    return clock


def sign_in(username: str, password: str, address: str = "127.0.0.1"):
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


def test_a_stranger_guessing_a_user_name_does_not_lock_out_its_owner_at_their_own_address():
    for _ in range(10):
        sign_in("alice", "wrong", address="127.0.0.66")
    assert sign_in("alice", PASSWORD, address="127.0.0.66").status_code == 429
    assert sign_in("alice", PASSWORD, address="127.0.0.1").status_code == 302


def test_an_address_is_throttled_whatever_user_names_it_tries():
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert sign_in(name, "wrong", address="127.0.9.9").status_code == 200
    assert sign_in("frank", "wrong", address="127.0.9.9").status_code == 429
    assert sign_in("bob", PASSWORD, address="127.0.9.9").status_code == 429
    assert sign_in("bob", PASSWORD, address="127.0.9.10").status_code == 302


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


def test_each_further_lock_out_within_a_day_lasts_twice_as_long(throttle):
    for lock_out in (1, 2, 4):
        for _ in range(3):
            assert sign_in("alice", "wrong").status_code == 200
        refused = sign_in("alice", PASSWORD)
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) == lock_out * 10 * 60 + 1
        throttle.now += lock_out * 10 * 60
    assert sign_in("alice", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_its_pairs_failures():
    for _ in range(2):
        sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD).status_code == 302
    for _ in range(2):
        sign_in("alice", "wrong")
    assert sign_in("alice", PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too():
    User.objects.filter(username="alice").update(is_staff=True)
    for _ in range(3):
        sign_in("alice", "wrong")
    response = Client(REMOTE_ADDR="127.0.0.1").post("/admin/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in response.client.session


def test_tests_and_tools_that_force_a_sign_in_still_get_a_working_session():
    client = Client()
    client.force_login(User.objects.get(username="alice"))
    assert client.get("/").status_code == 200


def test_attempts_beyond_the_checks_under_way_are_told_to_try_again_in_a_moment(throttle):
    limits = LoginThrottle(limit=2, address_limit=10, window_seconds=600, clock=throttle)
    first, second = limits.reserve("alice", "127.0.0.1"), limits.reserve("alice", "127.0.0.1")
    assert isinstance(first, Reservation) and isinstance(second, Reservation)
    assert limits.reserve("alice", "127.0.0.1") == Refusal(1, busy=True)
    limits.settle(first, "succeeded")
    assert isinstance(limits.reserve("alice", "127.0.0.1"), Reservation)


def test_a_check_that_never_reports_back_counts_as_a_failure(throttle):
    limits = LoginThrottle(limit=1, address_limit=10, window_seconds=600, clock=throttle)
    assert isinstance(limits.reserve("alice", "127.0.0.1"), Reservation)  # its worker dies mid-check
    throttle.now += site_machinery.security.PENDING_SECONDS
    refusal = limits.reserve("alice", "127.0.0.1")
    assert isinstance(refusal, Refusal) and not refusal.busy


def test_a_password_check_that_breaks_is_no_guess(throttle, monkeypatch):
    def unavailable(self, raw_password):
        raise ConnectionError("the database went away")

    monkeypatch.setattr(AbstractBaseUser, "check_password", unavailable)
    for _ in range(5):
        with pytest.raises(ConnectionError):
            sign_in("alice", PASSWORD)
    monkeypatch.undo()
    assert sign_in("alice", PASSWORD).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_password_checks_than_the_limit(settings, monkeypatch):
    """The attack: 32 wrong sign-ins for one user from one address at once. Each check is slowed
    down so that every request arrives while the first ones are being checked."""
    settings.LOGIN_FAILURE_LIMIT = 5
    checks = []
    check_password = AbstractBaseUser.check_password

    def slow_check(user, raw_password):
        checks.append(raw_password)
        threading.Event().wait(0.05)
        return check_password(user, raw_password)

    monkeypatch.setattr(AbstractBaseUser, "check_password", slow_check)
    barrier = threading.Barrier(32)
    statuses = []

    def guess(number):
        try:
            barrier.wait()
            statuses.append(sign_in("alice", f"guess-{number}").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(checks) <= 5, f"{len(checks)} passwords checked"
    assert set(statuses) <= {200, 429, 503} and len(statuses) == 32
    # The guesses used up the pair's limit: the right password is refused too, and never checked.
    assert sign_in("alice", PASSWORD).status_code == 429
    assert len(checks) <= 5


@pytest.mark.django_db(transaction=True)
def test_a_class_of_thirty_behind_one_address_all_get_in_at_the_first_try(settings, monkeypatch):
    """Thirty readers behind one address (a lab's NAT) sign in at once, three of them first mistyping
    their password; every check is slowed so that all overlap, more than the address's limit at once."""
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 20
    check_password = AbstractBaseUser.check_password

    def slow_check(user, raw_password):
        threading.Event().wait(0.05)
        return check_password(user, raw_password)

    monkeypatch.setattr(AbstractBaseUser, "check_password", slow_check)
    for number in range(30):
        User.objects.create_user(f"reader-{number:02d}", password=PASSWORD)
    barrier = threading.Barrier(30)
    statuses = {}

    def sign_in_as_a_reader(number):
        try:
            barrier.wait()
            if number < 3:
                assert sign_in(f"reader-{number:02d}", "mistyped", address="127.0.5.5").status_code == 200
            statuses[number] = sign_in(f"reader-{number:02d}", PASSWORD, address="127.0.5.5").status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in_as_a_reader, args=(number,)) for number in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == {number: 302 for number in range(30)}
