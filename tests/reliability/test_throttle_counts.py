"""The sign-in throttle's counts are never lost: Django's database cache drops a write it cannot make
without a word (a busy SQLite file), which let 6 or 7 of 32 parallel guesses be checked against a
limit of 5. Writes are read back and made again, SQLite transactions wait for the write lock, and a
count that cannot be stored refuses the sign-in (busy) rather than checking its password uncounted."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

import site_machinery.security
from site_machinery.security import LoginThrottle, Refusal, Reservation

ROOT = Path(__file__).resolve().parents[2]

PARALLEL_GUESSES = r'''
import threading
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import RequestFactory

call_command("migrate", verbosity=0)
call_command("createcachetable", verbosity=0)
checks = []
check_password = AbstractBaseUser.check_password

def slow_check(user, raw_password):
    checks.append(raw_password)
    threading.Event().wait(0.05)
    return check_password(user, raw_password)

AbstractBaseUser.check_password = slow_check
# The production password hasher: its real cost is what lets the checks overlap.
for round in range(4):
    User.objects.create_user(f"user{round}", password="a-long-correct-horse-password")
    checks.clear()
    barrier = threading.Barrier(32)

    def guess(number):
        request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=f"192.0.2.{round}")
        try:
            barrier.wait()
            authenticate(request, username=f"user{round}", password=f"guess-{number}")
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("checked", len(checks))
'''


def test_32_parallel_guesses_on_sqlite_and_the_database_cache_get_no_more_checks_than_the_limit(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    environment.update(
        DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="study.example.org", DATA_DIR=str(tmp_path / "data"),
        DJANGO_SETTINGS_MODULE="config.settings", LOGIN_FAILURE_LIMIT="5",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", PARALLEL_GUESSES],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    checked = [int(line.split()[1]) for line in result.stdout.splitlines() if line.startswith("checked")]
    assert len(checked) == 4 and all(0 < count <= 5 for count in checked), checked


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dropping_cache(monkeypatch):
    """The cache's writes are dropped (as the database cache does on an error) while ``drops`` > 0."""
    writes = {"drops": 0}
    set_value = site_machinery.security.cache.set

    def flaky_set(*args, **kwargs):
        if writes["drops"] > 0:
            writes["drops"] -= 1
            return None
        return set_value(*args, **kwargs)

    monkeypatch.setattr(site_machinery.security.cache, "set", flaky_set)
    return writes


def test_a_dropped_write_is_made_again_and_the_attempt_counted(dropping_cache):
    throttle = LoginThrottle(limit=1, address_limit=10, window_seconds=600, clock=Clock())
    dropping_cache["drops"] = 1
    assert isinstance(throttle.reserve("alice", "192.0.2.1"), Reservation)
    # The first attempt is counted (pending): a second one at once finds the limit taken.
    assert throttle.reserve("alice", "192.0.2.1") == Refusal(1, busy=True)


def test_a_count_the_cache_will_not_keep_refuses_the_sign_in_and_says_so_in_the_log(dropping_cache, caplog):
    throttle = LoginThrottle(limit=5, address_limit=10, window_seconds=600, clock=Clock())
    dropping_cache["drops"] = 1_000
    with caplog.at_level(logging.ERROR, logger="site_machinery.security"):
        assert throttle.reserve("alice", "192.0.2.1") == Refusal(1, busy=True)
    assert "the cache did not keep" in caplog.text
