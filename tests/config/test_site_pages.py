"""Every page a person lands on is the site's own: signing out, a page not found, not allowed, a
server error, an expired form."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import reading_study


@pytest.fixture
def reading(db):
    return reading_study("pages", test_samples=2, train_samples=0)


@pytest.mark.parametrize("role", ["participant", "coordinator", "analyst"])
def test_signing_out_lands_on_the_sites_page_with_a_way_back_in(client, reading, role):
    user = {"participant": reading.participant.user, "coordinator": reading.coordinator, "analyst": reading.analyst}[role]
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response.status_code == 200
    assert "You are signed out" in response.text
    assert f'href="{reverse("login")}"' in response.text
    assert "Django" not in response.text and "quality time" not in response.text
    assert "_auth_user_id" not in client.session


def test_a_page_not_found_is_the_sites_own(client, reading):
    client.force_login(reading.participant.user)
    response = client.get("/s/no-such-study/")
    assert response.status_code == 404
    assert "There is nothing here" in response.text and 'class="site-header"' in response.text


def test_a_page_not_allowed_is_the_sites_own(client, reading):
    client.force_login(reading.participant.user)
    response = client.get(reverse("annotator:coordinator_studies"))
    assert response.status_code == 403
    assert "This page is not open to you" in response.text and "coordinator role" in response.text


def test_a_server_error_is_the_sites_own(reading, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a fault")

    monkeypatch.setattr("config.views.render", broken)
    client = Client(raise_request_exception=False)
    client.force_login(reading.coordinator)
    response = client.get(reverse("home"))
    assert response.status_code == 500
    assert "Something went wrong on the server" in response.text and 'class="site-header"' in response.text


def test_an_expired_form_is_the_sites_own(reading):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "The form could not be sent" in response.text
