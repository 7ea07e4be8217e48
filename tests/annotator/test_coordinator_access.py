"""Who may open the coordinator's pages: each view, each role."""

import pytest

from django.contrib.auth.models import User
from django.urls import reverse

from annotator.models import Participant
from annotator.operations import invite
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    return reading_study("coord-access", test_samples=3, train_samples=1)


@pytest.fixture
def open_invitation(reading):
    return invite(reading.study, "expert", 1)[0].invitation


def requests_of(reading, invitation):
    """(method, url, data, the status a coordinator gets) for every coordinator view."""
    name = reading.study.name
    return [
        ("get", reverse("annotator:coordinator_studies"), None, 200),
        ("get", reverse("annotator:coordinator_study", args=[name]), None, 200),
        ("post", reverse("annotator:coordinator_study", args=[name]), {"action": "add_cohort", "name": "novice"}, 302),
        ("get", reverse("annotator:coordinator_invite", args=[name]), None, 200),
        ("post", reverse("annotator:coordinator_invite", args=[name]), {"cohort": "expert", "count": 1}, 200),
        ("post", reverse("annotator:coordinator_revoke", args=[name, invitation.pk]), {}, 302),
        ("get", reverse("annotator:coordinator_progress", args=[name]), None, 200),
        ("get", reverse("annotator:coordinator_export", args=[name]), None, 200),
    ]


def user_in_role(reading, role):
    if role in ("participant", "other_participant"):
        return getattr(reading, role).user
    return getattr(reading, role)


def nothing_changed(reading, invitation, participants_before):
    invitation.refresh_from_db()
    return (
        invitation.state == "open"
        and Participant.objects.count() == participants_before
        and not reading.study.cohorts.filter(name="novice").exists()
    )


def test_a_signed_out_visitor_is_sent_to_sign_in(client, reading, open_invitation):
    before = Participant.objects.count()
    for method, url, data, _ in requests_of(reading, open_invitation):
        response = getattr(client, method)(url, data)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url
    assert nothing_changed(reading, open_invitation, before)


@pytest.mark.parametrize("role", ["participant", "other_participant", "analyst", "outsider"])
def test_anyone_but_a_coordinator_gets_403_and_changes_nothing(client, reading, open_invitation, role):
    client.force_login(user_in_role(reading, role))
    before = Participant.objects.count()
    for method, url, data, _ in requests_of(reading, open_invitation):
        assert getattr(client, method)(url, data).status_code == 403, url
    assert nothing_changed(reading, open_invitation, before)


def test_a_coordinator_opens_and_uses_every_page(client, reading, open_invitation):
    client.force_login(reading.coordinator)
    for method, url, data, status in requests_of(reading, open_invitation):
        assert getattr(client, method)(url, data).status_code == status, url
    open_invitation.refresh_from_db()
    assert open_invitation.state == "revoked"
    assert reading.study.cohorts.filter(name="novice").exists()


def test_a_superuser_holds_the_coordinator_role(client, reading):
    client.force_login(User.objects.create_superuser("root", password="a-long-admin-password-7"))
    assert client.get(reverse("annotator:coordinator_study", args=[reading.study.name])).status_code == 200


def test_an_unknown_study_gets_404(client, reading):
    client.force_login(reading.coordinator)
    for name in ("coordinator_study", "coordinator_invite", "coordinator_progress", "coordinator_export"):
        assert client.get(reverse(f"annotator:{name}", args=["no-such-study"])).status_code == 404


def test_an_invitation_of_another_study_cannot_be_revoked_through_this_one(client, reading):
    other = reading_study("coord-access-other", test_samples=1, train_samples=0)
    foreign = invite(other.study, "expert", 1)[0].invitation
    client.force_login(reading.coordinator)
    response = client.post(reverse("annotator:coordinator_revoke", args=[reading.study.name, foreign.pk]))
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.state == "open"


def test_the_revoke_link_refuses_a_get(client, reading, open_invitation):
    client.force_login(reading.coordinator)
    url = reverse("annotator:coordinator_revoke", args=[reading.study.name, open_invitation.pk])
    assert client.get(url).status_code == 405
    open_invitation.refresh_from_db()
    assert open_invitation.state == "open"
