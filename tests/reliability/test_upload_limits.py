"""The site takes no uploads: a file sent to any page is refused and never written to disk, and a body
beyond MAX_REQUEST_BODY_BYTES is refused (nginx refuses it earlier under scripts/serve-production:
test_production_stack)."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db


def test_a_large_file_posted_to_the_sign_in_page_is_refused_and_nothing_is_written_to_disk(tmp_path, monkeypatch):
    spool = tmp_path / "uploads"
    spool.mkdir()
    monkeypatch.setattr(settings, "FILE_UPLOAD_TEMP_DIR", str(spool))
    upload = io.BytesIO(b"\0" * (3 * settings.MAX_REQUEST_BODY_BYTES))
    upload.name = "big.bin"
    response = Client().post("/accounts/login/", {"username": "anyone", "password": "x", "file": upload})
    assert response.status_code == 400
    assert list(spool.iterdir()) == []


def test_even_a_small_file_is_refused(tmp_path):
    upload = io.BytesIO(b"hello")
    upload.name = "small.txt"
    assert Client().post("/accounts/login/", {"username": "anyone", "password": "x", "file": upload}).status_code == 400


def test_a_form_body_beyond_the_limit_is_refused():
    body = "username=anyone&password=" + "x" * (settings.MAX_REQUEST_BODY_BYTES + 1)
    response = Client().post("/accounts/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
