"""Requests in flight per session: beyond a session's reads or writes served at once, 429 with
Retry-After; counted across threads and processes, and never leaked by a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from site_machinery.floods import open_lock_file, take_slot

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def signed_in(settings):
    settings.SESSION_READS_IN_FLIGHT = 2
    settings.SESSION_WRITES_IN_FLIGHT = 1
    client = Client()
    client.force_login(User.objects.create_user("reader", password="a-long-correct-horse-password"))
    return client


def hold(cookie: str, count: int, writes: bool = False) -> list[int]:
    """Slots of the session held as requests being served would hold them: a descriptor each."""
    descriptors = [open_lock_file() for _ in range(count)]
    assert all(take_slot(descriptor, cookie, writes) for descriptor in descriptors)
    return descriptors


def release(descriptors: list[int]) -> None:
    for descriptor in descriptors:
        os.close(descriptor)


def session_cookie(client: Client) -> str:
    return client.cookies["sessionid"].value


def test_a_read_beyond_the_sessions_reads_in_flight_is_answered_429_with_retry_after(signed_in):
    held = hold(session_cookie(signed_in), 2)
    try:
        response = signed_in.get("/")
    finally:
        release(held)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "Too many requests at once from this session" in response.content.decode()
    assert signed_in.get("/").status_code != 429


def test_a_script_asking_for_json_is_refused_in_json(signed_in):
    held = hold(session_cookie(signed_in), 2)
    try:
        response = signed_in.get("/", HTTP_ACCEPT="application/json")
    finally:
        release(held)
    assert response.status_code == 429 and "Too many requests" in response.json()["error"]


def test_a_sessions_panels_in_flight_never_hold_up_its_answers(signed_in):
    # Reads and writes are two budgets: with all reads taken, a POST is still served.
    held = hold(session_cookie(signed_in), 2)
    try:
        assert signed_in.post("/").status_code != 429
        writes = hold(session_cookie(signed_in), 1, writes=True)
        try:
            assert signed_in.post("/").status_code == 429
        finally:
            release(writes)
    finally:
        release(held)


def test_one_session_flooding_leaves_another_sessions_slots_alone(signed_in):
    other = Client()
    other.force_login(User.objects.create_user("other", password="a-long-correct-horse-password"))
    held = hold(session_cookie(signed_in), 2)
    try:
        assert other.get("/").status_code != 429
    finally:
        release(held)


def test_requests_without_a_session_are_left_to_the_per_address_limits(settings):
    settings.SESSION_READS_IN_FLIGHT = 1
    assert Client().get("/accounts/login/").status_code == 200


def test_the_slots_are_shared_with_other_processes_and_freed_when_one_is_killed(settings, tmp_path):
    settings.SESSION_READS_IN_FLIGHT = 1
    holder = textwrap.dedent(f"""
        import os, sys, time
        os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
        import django
        django.setup()
        from django.conf import settings
        settings.DATA_DIR = {str(settings.DATA_DIR)!r}
        settings.SESSION_READS_IN_FLIGHT = 1
        from site_machinery.floods import open_lock_file, take_slot
        assert take_slot(open_lock_file(), "a-session", writes=False)
        print("holding", flush=True)
        time.sleep(120)
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "holding"
        descriptor = open_lock_file()
        assert not take_slot(descriptor, "a-session", writes=False)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        assert take_slot(descriptor, "a-session", writes=False)
        os.close(descriptor)
    finally:
        process.kill()
        process.wait()
