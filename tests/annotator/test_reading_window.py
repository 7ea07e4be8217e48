"""The reading window: when answers are taken, what participants are told, how a study is closed and
extended, when invitations expire, and who is at risk of not finishing."""

import json
from datetime import timedelta

import pytest

from django.urls import reverse
from django.utils import timezone

from annotator.answers import save_answer, submit
from annotator.models import Answer, Invitation, StudyConfig, config_of
from annotator.operations import study_progress
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study


@pytest.fixture
def reading(db):
    reading = reading_study("window", test_samples=4, train_samples=0)
    opened_an_hour_ago(reading.participant, reading.other_participant)
    return reading


def set_window(reading, **moments):
    config = config_of(reading.study)
    for name, value in moments.items():
        setattr(config, name, value)
    config.save()


def post(client, number, class_index=1):
    url = reverse("annotator:participant_answer", args=["window", number])
    return client.post(url, json.dumps({"class_index": class_index, "active_seconds": 3}), content_type="application/json")


def test_after_closing_an_answer_is_refused_with_423_naming_the_closing_time_and_nothing_saved_is_lost(client, reading):
    client.force_login(reading.participant.user)
    assert post(client, 1, 2).status_code == 200
    closed = timezone.now() - timedelta(minutes=5)
    set_window(reading, closes_at=closed)

    for number, class_index in ((1, 5), (2, 3)):
        response = post(client, number, class_index)
        assert response.status_code == 423
        reply = response.json()
        assert reply["window"] == "closed"
        assert reply["closed_at"] == closed.isoformat()
        assert f"closed at {closed:%Y-%m-%d %H:%M} UTC" in reply["error"]
        assert "coordinator can extend" in reply["error"]
    answer = Answer.objects.get()
    assert answer.class_index == 2 and answer.changes == 0, "the answer saved before stays as it was"


def test_extending_the_window_lets_the_kept_answers_through(client, reading):
    client.force_login(reading.participant.user)
    set_window(reading, closes_at=timezone.now() - timedelta(minutes=1))
    assert post(client, 1).status_code == 423
    set_window(reading, closes_at=timezone.now() + timedelta(days=1))
    assert post(client, 1).status_code == 200


def test_before_opening_an_answer_is_refused_and_the_cases_wait(client, reading):
    opens = timezone.now() + timedelta(hours=2)
    set_window(reading, opens_at=opens, closes_at=opens + timedelta(days=7))
    client.force_login(reading.participant.user)
    response = post(client, 1)
    assert response.status_code == 423 and response.json()["window"] == "not_open"
    assert response.json()["opens_at"] == opens.isoformat()
    case = client.get(reverse("annotator:participant_case", args=["window", 1]))
    assert case.status_code == 302 and case["Location"] == reverse("annotator:participant_instructions", args=["window"])
    instructions = client.get(case["Location"]).text
    assert f"opens at {opens:%Y-%m-%d %H:%M} UTC" in instructions
    assert 'id="start"' not in instructions


def test_participants_see_the_deadline_on_their_pages(client, reading):
    closes = timezone.now() + timedelta(days=3)
    set_window(reading, closes_at=closes)
    client.force_login(reading.participant.user)
    shown = f"{closes:%Y-%m-%d %H:%M} UTC"
    for name, args in (
        ("participant_instructions", ["window"]),
        ("participant_case", ["window", 1]),
        ("participant_submit", ["window"]),
    ):
        text = client.get(reverse(f"annotator:{name}", args=args)).text
        assert "Open until" in text and shown in text, name


def test_a_case_page_after_closing_says_so_and_takes_no_answer(client, reading):
    closes = timezone.now() - timedelta(hours=1)
    set_window(reading, closes_at=closes)
    client.force_login(reading.participant.user)
    text = client.get(reverse("annotator:participant_case", args=["window", 2])).text
    assert f"The study closed at {closes:%Y-%m-%d %H:%M} UTC" in text
    assert 'data-state="closed"' in text and 'data-read-only="true"' in text


def window_form(client, reading, **fields):
    data = {"action": "window", "window-repeated_cases": "0"}
    for name in ("opens_at", "closes_at", "invitations_expire_at"):
        value = fields.pop(name, None)
        data[f"window-{name}"] = value.strftime("%Y-%m-%dT%H:%M") if value else ""
    data.update({f"window-{name}": value for name, value in fields.items()})
    return client.post(reverse("annotator:coordinator_study", args=["window"]), data)


def stored(reading) -> StudyConfig:
    return StudyConfig.objects.get(study=reading.study)


def test_the_coordinator_sets_a_one_week_window_and_an_expiry_for_the_invitations(client, reading):
    client.force_login(reading.coordinator)
    opens = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    response = window_form(client, reading, opens_at=opens, closes_at=opens + timedelta(days=7),
                           invitations_expire_at=opens + timedelta(days=2))
    assert response.status_code == 302
    config = stored(reading)
    assert (config.opens_at, config.closes_at, config.invitations_expire_at) == (
        opens, opens + timedelta(days=7), opens + timedelta(days=2)
    )
    page = client.get(reverse("annotator:coordinator_study", args=["window"])).text
    assert opens.strftime("%Y-%m-%dT%H:%M") in page and "not open yet" in page


def test_a_window_that_closes_before_it_opens_is_refused(client, reading):
    client.force_login(reading.coordinator)
    opens = timezone.now() + timedelta(days=2)
    response = window_form(client, reading, opens_at=opens, closes_at=opens - timedelta(days=1))
    assert response.status_code == 400
    assert "close after it opens" in " ".join(response.context["window_form"].errors["closes_at"])
    assert stored(reading).closes_at is None


def test_closing_a_study_with_unsubmitted_answers_needs_the_confirmation(client, reading):
    save_answer(reading.participant, reading.participant.order()[0], 1)
    client.force_login(reading.coordinator)
    now = timezone.now().replace(second=0, microsecond=0)

    response = window_form(client, reading, closes_at=now)
    assert response.status_code == 400
    errors = " ".join(response.context["window_form"].errors["closes_at"])
    assert "1 participant has answers not submitted yet" in errors and "Tick the box" in errors
    assert stored(reading).closes_at is None

    response = window_form(client, reading, closes_at=now, confirm_close="on")
    assert response.status_code == 302
    assert stored(reading).closes_at == now
    assert Answer.objects.count() == 1, "closing keeps every saved answer"


def test_closing_needs_no_confirmation_when_everyone_with_answers_has_submitted(client, reading):
    save_answer(reading.participant, reading.participant.order()[0], 1)
    submit(reading.participant)
    client.force_login(reading.coordinator)
    assert window_form(client, reading, closes_at=timezone.now() - timedelta(minutes=1)).status_code == 302


def test_a_study_closed_already_can_be_saved_again_without_confirming_anew(client, reading):
    save_answer(reading.participant, reading.participant.order()[0], 1)
    closed = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=1)
    set_window(reading, closes_at=closed)
    client.force_login(reading.coordinator)
    assert window_form(client, reading, closes_at=closed).status_code == 302
    assert window_form(client, reading, closes_at=closed + timedelta(days=2)).status_code == 302, "extending"


def test_an_expired_invitation_cannot_be_used_and_says_so(client, reading):
    newcomer = reading.study.participants.create(cohort=reading.participant.cohort, pseudonym="expert-02", order_seed=9)
    invitation, token = Invitation.issue(newcomer)
    url = reverse("annotator:accept_invitation", args=[token])
    assert client.get(url).status_code == 200
    set_window(reading, invitations_expire_at=timezone.now() - timedelta(minutes=1))
    response = client.get(url)
    assert response.status_code == 410 and "expired" in response.text
    assert Invitation.find_usable(token) is None
    assert invitation.state == "expired"
    response = client.post(url, {"new_password1": "violet-microscope-4417", "new_password2": "violet-microscope-4417"})
    assert response.status_code == 410
    newcomer.refresh_from_db()
    assert newcomer.user is None


def test_the_progress_page_shows_who_is_at_risk_of_not_finishing(client, reading):
    now = timezone.now()
    # Half of a one-week window has gone by.
    set_window(reading, opens_at=now - timedelta(days=3, hours=12), closes_at=now + timedelta(days=3, hours=12))
    for item in reading.participant.order()[:3]:  # 3 of 4: on course
        save_answer(reading.participant, item, 1)
    save_answer(reading.other_participant, reading.other_participant.order()[0], 1)  # 1 of 4: behind
    progress = study_progress(reading.study)
    assert progress.elapsed_fraction == pytest.approx(0.5, abs=0.01)
    people = {p.pseudonym: p for p in progress.participants}
    assert people["expert-01"].at_risk == ""
    assert people["scholar-01"].at_risk == "behind: 25% answered with 50% of the window gone"
    assert [p.pseudonym for p in progress.at_risk] == ["scholar-01"]

    client.force_login(reading.coordinator)
    text = client.get(reverse("annotator:coordinator_progress", args=["window"])).text
    assert "1 participant at risk of not finishing" in text
    assert "50% of the reading window has gone by" in text
    assert 'class="at-risk"' in text and "behind: 25% answered" in text


def test_at_their_pace_a_slow_participant_is_at_risk_though_not_behind_yet(reading):
    now = timezone.now()
    set_window(reading, opens_at=now - timedelta(days=2), closes_at=now + timedelta(days=8))
    # Two of four answered (ahead of the 20% of the window gone), but the first twelve days ago: at six days
    # a case, the other two take until after the close.
    first = save_answer(reading.participant, reading.participant.order()[0], 1).answer
    Answer.objects.filter(pk=first.pk).update(answered_at=now - timedelta(days=12))
    save_answer(reading.participant, reading.participant.order()[1], 1)
    person = {p.pseudonym: p for p in study_progress(reading.study).participants}["expert-01"]
    assert person.projected_finish > now + timedelta(days=9)
    assert person.at_risk == "at their pace so far they finish after the close"


def test_minutes_after_the_window_opens_nobody_is_at_risk_yet(reading):
    now = timezone.now()
    set_window(reading, opens_at=now - timedelta(minutes=5), closes_at=now + timedelta(days=7))
    assert all(p.at_risk == "" for p in study_progress(reading.study).participants)
    set_window(reading, opens_at=now - timedelta(days=2), closes_at=now + timedelta(days=5))
    people = {p.pseudonym: p for p in study_progress(reading.study).participants}
    assert people["expert-01"].at_risk == "behind: 0% answered with 29% of the window gone"


def test_without_a_closing_time_nobody_is_at_risk(reading):
    assert all(p.at_risk == "" for p in study_progress(reading.study).participants)
