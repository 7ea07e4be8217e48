"""Production settings pass Django's deployment checks, secrets come only from the environment,
and every response carries the security headers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from site_machinery.security import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path: Path, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
    inherited_out = ("DEBUG", "SECRET_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE")
    environment = {key: value for key, value in os.environ.items() if key not in inherited_out}
    environment.update(DATA_DIR=str(tmp_path / "data"), DJANGO_SETTINGS_MODULE="config.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )


def production(**overrides: str) -> dict[str, str]:
    return {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "study.example.org"} | overrides


def test_check_deploy_reports_nothing_with_production_settings(tmp_path):
    result = manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **production())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout and "WARNING" not in result.stderr


def test_check_deploy_does_warn_when_https_is_turned_off(tmp_path):
    # The check above means something only if the checks can see the settings at all.
    result = manage(tmp_path, "check", "--deploy", **production(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0"))
    assert "security.W008" in result.stderr and "security.W004" in result.stderr


def test_a_missing_secret_key_in_production_is_an_error_naming_the_variable(tmp_path):
    environment = production()
    del environment["SECRET_KEY"]
    result = manage(tmp_path, "check", **environment)
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment" in result.stderr


def test_a_malformed_proxy_header_setting_is_an_error_naming_it(tmp_path):
    result = manage(tmp_path, "check", **production(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO"))
    assert result.returncode != 0 and "SECURE_PROXY_SSL_HEADER='HTTP_X_FORWARDED_PROTO'" in result.stderr


def test_production_defaults_turn_https_and_secure_cookies_on(tmp_path):
    script = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS, s.SECURE_PROXY_SSL_HEADER, "
        "s.CACHES['default']['BACKEND'].rsplit('.', 1)[-1])"
    )
    environment = production(SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    result = manage(tmp_path, "shell", "-v", "0", "-c", script, **environment)
    assert result.stdout.split() == [
        "True", "31536000", "True", "True", "True", "DENY", "('HTTP_X_FORWARDED_PROTO',", "'https')", "DatabaseCache"
    ], result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/no-such-page/", "/admin/login/"])
def test_every_response_carries_the_security_headers(client, url):
    response = client.get(url)
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]


def test_the_policy_allows_only_the_sites_own_scripts_and_styles():
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"


def development(**overrides: str) -> dict[str, str]:
    """DEBUG on and no SECRET_KEY: the public development key."""
    return {"DEBUG": "1", "ALLOWED_HOSTS": "127.0.0.1,localhost,::1"} | overrides


def test_the_development_key_refuses_to_start_for_a_host_name_other_machines_use(tmp_path):
    result = manage(tmp_path, "check", **development(ALLOWED_HOSTS="127.0.0.1,study.example.org"))
    assert result.returncode != 0
    assert "public development SECRET_KEY" in result.stderr and "study.example.org" in result.stderr


@pytest.mark.parametrize("address", ["0.0.0.0:8765", "0:8765", "[::]:8765", "192.0.2.10:8765"])
def test_the_development_key_refuses_to_start_runserver_on_an_address_other_machines_reach(tmp_path, address):
    try:
        result = manage(tmp_path, "runserver", address, "--noreload", **development())
    except subprocess.TimeoutExpired:
        pytest.fail(f"runserver {address} started with the development key")
    assert result.returncode != 0
    assert "public development SECRET_KEY" in result.stderr and "runserver on" in result.stderr


def test_the_development_key_is_fine_on_this_machine_and_a_secret_key_anywhere(tmp_path):
    assert manage(tmp_path, "check", **development()).returncode == 0
    own_key = development(ALLOWED_HOSTS="study.example.org", SECRET_KEY=secrets.token_urlsafe(50))
    assert manage(tmp_path, "check", **own_key).returncode == 0


@pytest.mark.django_db
def test_with_the_development_key_the_site_answers_this_machine_only(settings):
    assert settings.USES_DEVELOPMENT_KEY, "the test settings use the development key"
    refused = Client(REMOTE_ADDR="192.0.2.10").get("/accounts/login/")
    assert refused.status_code == 403 and "development SECRET_KEY" in refused.content.decode()
    assert Client(REMOTE_ADDR="127.0.0.1").get("/accounts/login/").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/accounts/login/").status_code == 200
