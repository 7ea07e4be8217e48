"""What a participant meets between the features: where they land, what a closed study still takes,
and what a repeated case's second reading gives away."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from annotator.answers import save_answer
from annotator.models import Cohort, Invitation, PracticeAnswer, config_of
from annotator.training import practice_samples
from tests.factories import TEST_PASSWORD, reading_study

PANEL = re.compile(r'/panels/[0-9a-f]+/')


@pytest.fixture
def reading(db):
    reading = reading_study("seams", test_samples=8, train_samples=6)
    config = config_of(reading.study)
    config.gallery_open = True
    config.repeated_cases = 2
    config.background_fields = [
        {"key": "years", "label": "Years of experience", "kind": "number", "options": [], "required": True}
    ]
    config.save()
    return reading


def close(reading):
    config = config_of(reading.study)
    config.closes_at = timezone.now() - timedelta(minutes=1)
    config.save()


def url(name, *args):
    return reverse(f"annotator:{name}", args=["seams", *args])


def test_signing_in_takes_a_participant_of_one_study_where_they_stopped(client, reading):
    response = client.post(reverse("login"), {"username": reading.participant.user.username, "password": TEST_PASSWORD})
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == url("participant_study")
    assert client.get(url("participant_study"))["Location"] == url("participant_background")


def test_a_participant_who_is_also_staff_gets_the_start_page(client, reading):
    client.force_login(reading.coordinator)
    reading.participant.user = reading.coordinator
    reading.participant.save()
    assert client.get("/").status_code == 200


def test_a_used_invitation_reminds_its_holder_of_the_user_name(client, reading):
    newcomer = reading.study.participants.create(cohort=reading.participant.cohort, pseudonym="expert-02", order_seed=9)
    _, token = Invitation.issue(newcomer)
    link = reverse("annotator:accept_invitation", args=[token])
    client.post(link, {"new_password1": "violet-microscope-4417", "new_password2": "violet-microscope-4417"})
    client.logout()
    newcomer.refresh_from_db()
    response = client.get(link)
    assert response.status_code == 410
    assert f'<strong class="username">{newcomer.user.username}</strong>' in response.text


def test_a_closed_study_makes_no_new_account(client, reading):
    newcomer = reading.study.participants.create(cohort=reading.participant.cohort, pseudonym="expert-02", order_seed=9)
    _, token = Invitation.issue(newcomer)
    close(reading)
    link = reverse("annotator:accept_invitation", args=[token])
    response = client.post(link, {"new_password1": "violet-microscope-4417", "new_password2": "violet-microscope-4417"})
    assert response.status_code == 410 and "takes no new participants" in response.text
    newcomer.refresh_from_db()
    assert newcomer.user is None


def test_a_closed_study_takes_no_background_answers(client, reading):
    close(reading)
    client.force_login(reading.participant.user)
    response = client.post(url("participant_background"), {"years": "3"})
    assert response.status_code == 409 and "nothing more can be saved" in response.text
    reading.participant.refresh_from_db()
    assert reading.participant.background_given_at is None


def test_a_closed_study_takes_no_practice_answers(client, reading):
    Cohort.objects.filter(pk=reading.participant.cohort_id).update(training_required=True, practice_cases=2)
    config = config_of(reading.study)
    config.background_fields = []
    config.save()
    close(reading)
    client.force_login(reading.participant.user)
    response = client.post(url("participant_practice", 1), {"class_index": "0"})
    assert response.status_code == 409 and "nothing more can be saved" in response.text
    assert not PracticeAnswer.objects.exists()


def test_the_deadline_shows_on_the_practice_and_gallery_pages(client, reading):
    Cohort.objects.filter(pk=reading.participant.cohort_id).update(training_required=True, practice_cases=2)
    config = config_of(reading.study)
    config.background_fields = []
    config.closes_at = timezone.now() + timedelta(days=3)
    config.save()
    client.force_login(reading.participant.user)
    for page in (url("participant_practice", 1), url("gallery"), url("gallery_sample", 0, 1)):
        response = client.get(page)
        assert response.status_code == 200, page
        assert 'id="deadline">Open until ' in response.text and " UTC" in response.text, page


def readings_of_a_repeated_case(participant):
    cases = participant.cases()
    repeated = next(case for case in cases if case.repeat == 1)
    first = next(case for case in cases if case.item == repeated.item and case.repeat == 0)
    return first, repeated


def test_each_reading_of_a_repeated_case_has_its_own_panel_urls_and_starts_blank(client, reading):
    participant = reading.participant
    participant.background_given_at = timezone.now()
    participant.save()
    first, second = readings_of_a_repeated_case(participant)
    client.force_login(participant.user)
    first_page = client.get(url("participant_case", first.number)).text
    save_answer(participant, first.item, 3)
    second_page = client.get(url("participant_case", second.number)).text
    assert set(PANEL.findall(first_page)).isdisjoint(PANEL.findall(second_page))
    assert not [c for c in re.findall(r'class="class-choice([^"]*)"', second_page) if "current" in c], "starts blank"
    assert [c for c in re.findall(r'class="class-choice([^"]*)"', client.get(url("participant_case", first.number)).text)
            if "current" in c] == [" current"], "the first reading shows its answer"
    before = client.get(url("participant_case", second.number - 1)).text
    assert set(PANEL.findall(before)) & set(PANEL.findall(second_page)), "the case before prefetches it as any other"
    assert set(PANEL.findall(before)).isdisjoint(PANEL.findall(first_page))


def test_practice_images_are_not_the_gallerys_urls(client, reading):
    Cohort.objects.filter(pk=reading.participant.cohort_id).update(training_required=True, practice_cases=6)
    config = config_of(reading.study)
    config.background_fields = []
    config.save()
    client.force_login(reading.participant.user)
    practice = set()
    for number in range(1, len(practice_samples(reading.participant)) + 1):
        practice |= set(PANEL.findall(client.get(url("participant_practice", number)).text))
        client.post(url("participant_practice", number), {"class_index": "0"})
    gallery = set()
    for class_index in range(6):
        for number in (1, 2):
            gallery |= set(PANEL.findall(client.get(url("gallery_sample", class_index, number)).text))
    assert practice and gallery and practice.isdisjoint(gallery)
