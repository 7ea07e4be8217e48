"""A server error in production leaves a trace: a line (with its traceback) on stderr, in LOG_FILE when
set, and a mail to ADMINS when set. Django alone sends failed requests nowhere with DEBUG off."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The page asks for the signed-in user, whose lookup breaks as it would with the database away.
FAILING_REQUEST = """
from unittest import mock
from django.conf import settings
from django.core import mail
from django.test import Client

settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
with mock.patch("django.contrib.auth.get_user", side_effect=RuntimeError("the database is away")):
    status = Client(raise_request_exception=False).get("/", secure=True, HTTP_HOST="study.example.org").status_code
print("status", status)
print("mails", len(getattr(mail, "outbox", [])), *(message.subject for message in getattr(mail, "outbox", [])))
"""


def run_production(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    environment.update(
        DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="study.example.org",
        DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="config.settings", **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", FAILING_REQUEST],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_a_500_in_production_leaves_a_line_with_its_traceback_on_stderr(tmp_path):
    result = run_production(tmp_path)
    assert "status 500" in result.stdout, result.stderr
    assert "ERROR django.request" in result.stderr and "Internal Server Error: /" in result.stderr
    assert "RuntimeError: the database is away" in result.stderr


def test_a_500_is_also_written_to_the_log_file_and_mailed_to_the_admins(tmp_path):
    log_file = tmp_path / "site.log"
    result = run_production(tmp_path, LOG_FILE=str(log_file), ADMINS="Ann Lead <ann@lab.example.org>")
    assert "status 500" in result.stdout, result.stderr
    assert "Internal Server Error: /" in log_file.read_text()
    assert "mails 1 [Django] ERROR" in result.stdout


def test_a_log_file_in_a_folder_that_does_not_exist_is_an_error_naming_the_setting(tmp_path):
    result = run_production(tmp_path, LOG_FILE=str(tmp_path / "missing" / "site.log"))
    assert result.returncode != 0 and "LOG_FILE=" in result.stderr and "its folder does not exist" in result.stderr
