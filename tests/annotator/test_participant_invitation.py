"""Accepting an invitation: choose a password, get an account, land in the study."""

import pytest

from django.contrib.auth.models import User
from django.urls import reverse

from annotator.models import Invitation, Participant
from tests.factories import reading_study



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
