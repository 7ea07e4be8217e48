"""Coming back to the study, and the final submission."""

import pytest

from django.urls import reverse

from annotator.answers import save_answer
from tests.factories import reading_study



@pytest.fixture
def reading(db):
    return reading_study("resume", test_samples=4, train_samples=0)


@pytest.fixture
def signed_in(client, reading):
    client.force_login(reading.participant.user)
    return client


def answer_numbers(participant, *numbers):
    order = participant.order()
    for number in numbers:
        save_answer(participant, order[number - 1], 0)


def entry(client):
    return client.get(reverse("annotator:participant_study", args=["resume"]))["Location"]


def test_the_first_visit_opens_the_instructions(signed_in):
    assert entry(signed_in) == reverse("annotator:participant_instructions", args=["resume"])


def test_a_returning_participant_resumes_at_the_first_unanswered_case(signed_in, reading):
    answer_numbers(reading.participant, 1, 2, 4)
    assert entry(signed_in) == reverse("annotator:participant_case", args=["resume", 3])


def test_the_start_button_leads_to_the_first_unanswered_case(signed_in, reading):
    answer_numbers(reading.participant, 1)
    text = signed_in.get(reverse("annotator:participant_instructions", args=["resume"])).text
    assert f'id="start" href="{reverse("annotator:participant_case", args=["resume", 2])}"' in text


def test_with_every_case_answered_the_study_opens_the_submission_page(signed_in, reading):
    answer_numbers(reading.participant, 1, 2, 3, 4)
    assert entry(signed_in) == reverse("annotator:participant_submit", args=["resume"])


def test_the_submission_page_says_how_many_are_unanswered(signed_in, reading):
    answer_numbers(reading.participant, 1, 3)
    text = signed_in.get(reverse("annotator:participant_submit", args=["resume"])).text
    assert "You answered <strong>2</strong> of 4 samples." in text
    assert "2 samples are unanswered" in text
    assert 'name="confirm_unanswered"' in text


def test_submitting_with_unanswered_cases_needs_the_explicit_confirmation(signed_in, reading):
    answer_numbers(reading.participant, 1)
    url = reverse("annotator:participant_submit", args=["resume"])
    refused = signed_in.post(url)
    assert refused.status_code == 400 and "Tick the box" in refused.text
    reading.participant.refresh_from_db()
    assert not reading.participant.is_submitted
    accepted = signed_in.post(url, {"confirm_unanswered": "yes"})
    assert accepted["Location"] == reverse("annotator:participant_done", args=["resume"])
    reading.participant.refresh_from_db()
    assert reading.participant.is_submitted


def test_with_every_case_answered_submission_needs_no_confirmation(signed_in, reading):
    answer_numbers(reading.participant, 1, 2, 3, 4)
    signed_in.post(reverse("annotator:participant_submit", args=["resume"]))
    reading.participant.refresh_from_db()
    assert reading.participant.is_submitted


def test_after_submission_the_study_opens_the_summary_of_their_answers(signed_in, reading):
    order = reading.participant.order()
    save_answer(reading.participant, order[0], 6)
    signed_in.post(reverse("annotator:participant_submit", args=["resume"]), {"confirm_unanswered": "yes"})
    assert entry(signed_in) == reverse("annotator:participant_done", args=["resume"])
    text = signed_in.get(reverse("annotator:participant_done", args=["resume"])).text
    assert "1 of 4 samples answered" in text
    assert "<td>Microtubules</td>" in text and text.count("<td>unanswered</td>") == 3
    assert signed_in.get(reverse("annotator:participant_submit", args=["resume"]))["Location"].endswith("/done/")


def test_submitting_twice_keeps_the_first_time(signed_in, reading):
    url = reverse("annotator:participant_submit", args=["resume"])
    signed_in.post(url, {"confirm_unanswered": "yes"})
    reading.participant.refresh_from_db()
    first = reading.participant.submitted_at
    signed_in.post(url, {"confirm_unanswered": "yes"})
    reading.participant.refresh_from_db()
    assert reading.participant.submitted_at == first


def test_the_summary_waits_for_the_submission(signed_in):
    response = signed_in.get(reverse("annotator:participant_done", args=["resume"]))
    assert response["Location"] == reverse("annotator:participant_submit", args=["resume"])
