"""Accepting an invitation: choose a password, get an account, land in the study."""

import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from django.contrib.auth.models import User
from django.urls import reverse

from annotator import views_participant
from annotator.models import Invitation, Participant
from tests.factories import reading_study

REPOSITORY = Path(__file__).resolve().parents[2]
# How long the server may take to start or to answer on a machine busy with other work; a server that
# exits ends the wait at once.
PATIENCE_SECONDS = 300
# A port found free may be taken by another program before the server binds it; then another is tried.
PORT_ATTEMPTS = 5

NEW_PASSWORD = "violet-microscope-4417"


@pytest.fixture
def invited(db):
    reading = reading_study("invite", test_samples=2, train_samples=0)
    newcomer = Participant.objects.create(
        study=reading.study, cohort=reading.participant.cohort, pseudonym="expert-02", order_seed=7
    )
    invitation, token = Invitation.issue(newcomer)
    return newcomer, invitation, reverse("annotator:accept_invitation", args=[token])


def choose_password(client, url, password=NEW_PASSWORD, again=None):
    return client.post(url, {"new_password1": password, "new_password2": again or password})


def test_the_invitation_page_greets_the_pseudonym_and_shows_the_user_name(client, invited):
    newcomer, _, url = invited
    response = client.get(url)
    assert response.status_code == 200
    assert "expert-02" in response.text
    assert "invite-expert-02" in response.text
    assert 'name="new_password1"' in response.text


def test_choosing_a_password_creates_the_account_signs_in_and_opens_the_study(client, invited):
    newcomer, invitation, url = invited
    response = choose_password(client, url)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotator:participant_study", args=["invite"])
    newcomer.refresh_from_db()
    invitation.refresh_from_db()
    assert newcomer.user.username == "invite-expert-02"
    assert newcomer.user.check_password(NEW_PASSWORD)
    assert invitation.state == "used"
    signed_in = client.get(response["Location"])
    assert signed_in["Location"] == reverse("annotator:participant_instructions", args=["invite"])


def test_a_weak_or_mismatched_password_is_refused_and_no_account_is_made(client, invited):
    newcomer, invitation, url = invited
    users = User.objects.count()
    assert choose_password(client, url, password="12345678").status_code == 200
    assert choose_password(client, url, again="something-else-entirely").status_code == 200
    assert User.objects.count() == users
    invitation.refresh_from_db()
    assert invitation.state == "open"


def test_a_used_invitation_gets_410_and_never_a_second_account(client, invited):
    newcomer, _, url = invited
    choose_password(client, url)
    users = User.objects.count()
    client.logout()
    assert client.get(url).status_code == 410
    response = choose_password(client, url, password="another-long-password-9")
    assert response.status_code == 410
    assert "used already" in response.text
    assert User.objects.count() == users


def test_a_revoked_invitation_gets_410(client, invited):
    _, invitation, url = invited
    invitation.revoke()
    response = client.get(url)
    assert response.status_code == 410
    assert "withdrawn" in response.text


def test_an_unknown_token_gets_404(client, invited):
    response = client.get(reverse("annotator:accept_invitation", args=["not-a-real-token"]))
    assert response.status_code == 404
    assert "No invitation has this link" in response.text


def test_a_new_invitation_for_a_participant_with_an_account_resets_its_password(client, db):
    reading = reading_study("reinvite", test_samples=1, train_samples=0)
    _, token = Invitation.issue(reading.participant)
    users = User.objects.count()
    choose_password(client, reverse("annotator:accept_invitation", args=[token]))
    reading.participant.user.refresh_from_db()
    assert reading.participant.user.check_password(NEW_PASSWORD)
    assert User.objects.count() == users


def test_a_taken_user_name_gets_a_number(client, invited):
    newcomer, _, url = invited
    User.objects.create_user("invite-expert-02")
    choose_password(client, url)
    newcomer.refresh_from_db()
    assert newcomer.user.username == "invite-expert-02-2"


def test_the_debug_error_page_never_shows_the_chosen_password(client, invited, settings, monkeypatch):
    def broken_login(*args, **kwargs):
        raise RuntimeError("the session store is away")

    settings.DEBUG = True
    monkeypatch.setattr(views_participant, "login", broken_login)
    client.raise_request_exception = False
    response = choose_password(client, invited[2])
    assert response.status_code == 500 and "the session store is away" in response.text
    assert NEW_PASSWORD not in response.text


SETUP_SCRIPT = """
from django.urls import reverse
from annotator.models import Cohort, Invitation, Participant
from study.models import Dataset, Study
dataset = Dataset.objects.create(name="race-data", label_set_key="cyto13")
study = Study.objects.create(name="race", dataset=dataset, seed=0)
cohort = Cohort.objects.create(study=study, name="expert")
participant = Participant.objects.create(study=study, cohort=cohort, pseudonym="expert-01", order_seed=1)
print(reverse("annotator:accept_invitation", args=[Invitation.issue(participant)[1]]))
"""


@pytest.fixture
def server_on_sqlite(tmp_path):
    """``runserver`` (a thread per request) over an SQLite file with one open invitation, as a pilot
    runs it; yields the server's address and the invitation's path."""
    environment = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "DATABASE_URL")}
    environment.update(DATA_DIR=str(tmp_path / "data"), DEBUG="1", DJANGO_SETTINGS_MODULE="config.settings")

    def manage(*args, **options):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPOSITORY, env=environment, check=True, timeout=PATIENCE_SECONDS,
            **options,
        )

    manage("migrate", "-v", "0")
    path = manage("shell", "-v", "0", "-c", SETUP_SCRIPT, capture_output=True, text=True).stdout.strip()
    server, port, log = start_runserver(environment, tmp_path / "server.log")
    try:
        yield port, path, tmp_path / "server.log"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def start_runserver(environment: dict, log_path: Path):
    """``runserver`` on a free port of 127.0.0.1, answering: the process, its port and its open log."""
    for _ in range(PORT_ATTEMPTS):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = open(log_path, "w")
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=REPOSITORY, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + PATIENCE_SECONDS
        while server.poll() is None:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("HEAD", "/accounts/login/")
                probe.getresponse()
            except OSError:
                if time.monotonic() > deadline:
                    server.terminate()
                    server.wait(10)
                    raise RuntimeError(f"runserver did not answer in {PATIENCE_SECONDS} s:\n{log_path.read_text()}")
                time.sleep(0.2)
                continue
            if server.poll() is None:
                return server, port, log
        log.close()
        if "That port is already in use" not in log_path.read_text():
            raise RuntimeError(log_path.read_text())
    raise RuntimeError(f"no free port for runserver in {PORT_ATTEMPTS} tries:\n{log_path.read_text()}")


def test_an_invitation_submitted_many_times_at_once_gives_one_account_and_the_rest_see_it_used(server_on_sqlite):
    port, path, server_log = server_on_sqlite
    first = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_SECONDS)
    first.request("GET", path)
    page = first.getresponse()
    cookie = SimpleCookie(page.headers["Set-Cookie"])["csrftoken"].value
    form_token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())[1]
    body = urlencode({"csrfmiddlewaretoken": form_token, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    barrier = threading.Barrier(12)
    answers = []

    def submit():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_SECONDS)
        barrier.wait()
        connection.request(
            "POST", path, body,
            {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookie}"},
        )
        response = connection.getresponse()
        answers.append((response.status, response.read().decode(errors="replace")))

    threads = [threading.Thread(target=submit) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(status for status, _ in answers)
    assert statuses == [302] + [410] * 11, server_log.read_text()[-3000:]
    assert all("used already" in text for status, text in answers if status == 410)
    assert "Traceback" not in server_log.read_text()
