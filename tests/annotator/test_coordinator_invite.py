"""The invite page: a batch of single-use links, shown once; the list of invitations; revoking."""

import re

import pytest

from django.urls import reverse

from annotator.models import Invitation, Participant
from annotator.operations import invite
from tests.factories import reading_study

LINK = re.compile(r'<code class="invitation-link">(http://testserver/invitation/([^/<]+)/)</code>')


@pytest.fixture
def reading(db):
    return reading_study("coord-invite", test_samples=2, train_samples=0)


@pytest.fixture
def page(client, reading):
    client.force_login(reading.coordinator)
    return reverse("annotator:coordinator_invite", args=[reading.study.name])


def test_inviting_shows_one_usable_link_per_new_participant(client, reading, page):
    response = client.post(page, {"cohort": "scholar", "count": 3})
    assert response.status_code == 200
    links = LINK.findall(response.text)
    assert len(links) == 3
    participants = []
    for url, token in links:
        assert url == "http://testserver" + reverse("annotator:accept_invitation", args=[token])
        invitation = Invitation.find_usable(token)
        assert invitation is not None
        participants.append(invitation.participant)
    assert [p.pseudonym for p in participants] == ["scholar-02", "scholar-03", "scholar-04"]
    assert {p.cohort.name for p in participants} == {"scholar"}
    assert all(p.user is None and not p.simulated for p in participants)
    assert "no-store" in response["Cache-Control"]


def test_the_links_are_shown_once_only(client, page):
    posted = client.post(page, {"cohort": "expert", "count": 1})
    [(_, token)] = LINK.findall(posted.text)
    again = client.get(page).text
    assert token not in again
    assert "expert-02" in again and "open" in again


def test_a_link_works_once_to_choose_a_password(client, reading, page):
    [(url, token)] = LINK.findall(client.post(page, {"cohort": "expert", "count": 1}).text)
    client.logout()
    password = "violet-microscope-4417"
    accepted = client.post(url, {"new_password1": password, "new_password2": password})
    assert accepted.status_code == 302
    assert Invitation.find_usable(token) is None
    client.logout()
    assert client.get(url).status_code == 410


def test_revoking_makes_a_link_unusable_and_shows_the_state(client, reading, page):
    issued = invite(reading.study, "expert", 1)[0]
    response = client.post(reverse("annotator:coordinator_revoke", args=[reading.study.name, issued.invitation.pk]))
    assert response.status_code == 302 and response["Location"] == page
    assert Invitation.find_usable(issued.token) is None
    assert client.get(issued.path).status_code == 410
    text = client.get(page).text
    assert "revoked" in text
    assert reverse("annotator:coordinator_revoke", args=[reading.study.name, issued.invitation.pk]) not in text


def test_a_used_invitation_stays_used_when_revoked(client, reading, page):
    issued = invite(reading.study, "expert", 1)[0]
    Invitation.objects.filter(pk=issued.invitation.pk).update(used_at="2026-01-01T00:00:00Z")
    client.post(reverse("annotator:coordinator_revoke", args=[reading.study.name, issued.invitation.pk]))
    issued.invitation.refresh_from_db()
    assert issued.invitation.state == "used"


@pytest.mark.parametrize(
    "data, field", [({"cohort": "nobody", "count": 1}, "cohort"), ({"cohort": "expert", "count": 0}, "count")]
)
def test_a_bad_request_is_refused_naming_the_field(client, page, data, field):
    before = Participant.objects.count()
    response = client.post(page, data)
    assert response.status_code == 400
    assert list(response.context["form"].errors) == [field]
    assert Participant.objects.count() == before


def test_pseudonyms_number_on_per_cohort(reading):
    first = invite(reading.study, "expert", 2)
    second = invite(reading.study, "scholar", 1)
    third = invite(reading.study, "novice", 1)
    assert [i.participant.pseudonym for i in first] == ["expert-02", "expert-03"]
    assert [i.participant.pseudonym for i in second] == ["scholar-02"]
    assert [i.participant.pseudonym for i in third] == ["novice-01"]
    assert reading.study.cohorts.filter(name="novice").exists()
    assert len({i.token for i in first + second + third}) == 4
