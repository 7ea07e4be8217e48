"""Saving an answer through the JSON endpoint: history, idempotence, limits, refusals."""

import json
from datetime import timedelta

import pytest

from django.urls import reverse
from django.utils import timezone

from annotator.answers import MAX_ACTIVE_SECONDS_PER_SAVE
from annotator.models import Answer, AnswerHistory, CaseOpening, config_of
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study



@pytest.fixture
def reading(db):
    reading = reading_study("saving", test_samples=4, train_samples=0)
    opened_an_hour_ago(reading.participant, reading.other_participant)
    return reading


@pytest.fixture
def signed_in(client, reading):
    client.force_login(reading.participant.user)
    return client


def post(client, number, body, study="saving"):
    url = reverse("annotator:participant_answer", args=[study, number])
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(url, data, content_type="application/json")


def item_of(participant, number):
    return participant.order()[number - 1]


def test_a_first_answer_is_stored_with_its_history_row_and_the_display_settings(signed_in, reading):
    response = post(signed_in, 2, {"class_index": 4, "active_seconds": 12.5})
    assert response.status_code == 200
    assert response.json() == {
        "number": 2, "arm": "unaided", "finished": True, "class_index": 4, "changes": 0, "answered": 1, "total": 4,
        "next": reverse("annotator:participant_case", args=["saving", 3]),
    }
    answer = Answer.objects.get()
    assert answer.item == item_of(reading.participant, 2)
    assert answer.participant == reading.participant
    assert (answer.class_index, answer.active_seconds, answer.changes) == (4, 12.5, 0)
    assert answer.display_percentiles == config_of(reading.study).display_percentiles
    assert list(answer.history.values_list("class_index", "active_seconds")) == [(4, 12.5)]


def test_each_change_adds_a_history_row_and_counts_as_a_change(signed_in, clock):
    for class_index in (4, 7, 2):
        clock.advance(10)
        post(signed_in, 1, {"class_index": class_index, "active_seconds": 10})
    answer = Answer.objects.get()
    assert (answer.class_index, answer.changes, answer.active_seconds) == (2, 2, 30.0)
    assert list(answer.history.values_list("class_index", "active_seconds")) == [(4, 10.0), (7, 20.0), (2, 30.0)]


def test_saving_the_same_class_again_is_no_change_but_adds_the_time(signed_in, clock):
    post(signed_in, 1, {"class_index": 4, "active_seconds": 10})
    clock.advance(5)
    response = post(signed_in, 1, {"class_index": 4, "active_seconds": 5})
    assert response.status_code == 200 and response.json()["changes"] == 0
    answer = Answer.objects.get()
    assert (answer.changes, answer.active_seconds) == (0, 15.0)
    assert answer.history.count() == 1


def test_a_change_records_the_display_settings_it_was_made_under(signed_in, reading):
    post(signed_in, 1, {"class_index": 4})
    config = config_of(reading.study)
    config.display_percentiles = {**config.display_percentiles, "green": [2, 98]}
    config.save()
    post(signed_in, 1, {"class_index": 5})
    assert Answer.objects.get().display_percentiles["green"] == [2, 98]


def test_active_time_per_save_is_clamped(signed_in):
    post(signed_in, 1, {"class_index": 0, "active_seconds": 20 * 3600})
    assert Answer.objects.get().active_seconds == MAX_ACTIVE_SECONDS_PER_SAVE


def test_answers_given_side_by_side_never_count_the_same_seconds_twice(signed_in, reading, clock):
    for number in (1, 2, 3, 4):
        clock.advance(1)
        post(signed_in, number, {"class_index": 0, "active_seconds": 3000})
    answers = Answer.objects.filter(participant=reading.participant).order_by("answered_at")
    # The first answer may claim the hour since its case was served; each later one, the second since.
    assert [answer.active_seconds for answer in answers] == [3000.0, 1.0, 1.0, 1.0]


def test_the_last_case_sends_the_participant_on_to_the_submission(signed_in):
    assert post(signed_in, 4, {"class_index": 0}).json()["next"] == reverse("annotator:participant_submit", args=["saving"])


@pytest.mark.parametrize(
    "body, field",
    [
        ({"class_index": 13}, "class_index"),
        ({"class_index": -1}, "class_index"),
        ({"class_index": "3"}, "class_index"),
        ({"class_index": 2.0}, "class_index"),
        ({"class_index": True}, "class_index"),
        ({"class_index": 2, "active_seconds": -4}, "active_seconds"),
        ({"class_index": 2, "active_seconds": "long"}, "active_seconds"),
        ({"class_index": 2, "answered_seconds_ago": -1}, "answered_seconds_ago"),
        ({"class_index": 2, "answered_seconds_ago": "yesterday"}, "answered_seconds_ago"),
        ({"class_index": 2, "active_seconds": 25 * 3600}, "active_seconds"),
        ({"class_index": 2, "answered_seconds_ago": 400 * 86_400}, "answered_seconds_ago"),
        ({"active_seconds": 3}, "class_index"),
        ([2], "class_index"),
        ("{not json", "JSON"),
    ],
)
def test_bad_input_gets_400_naming_the_field_and_stores_nothing(signed_in, body, field):
    response = post(signed_in, 1, body)
    assert response.status_code == 400
    assert field in response.json()["error"]
    assert not Answer.objects.exists()


def test_a_body_over_4_kb_is_refused(signed_in):
    response = post(signed_in, 1, json.dumps({"class_index": 1, "padding": "x" * 5000}))
    assert response.status_code == 413
    assert not Answer.objects.exists()


def test_a_case_number_outside_the_order_gets_404(signed_in):
    response = post(signed_in, 5, {"class_index": 1})
    assert response.status_code == 404
    assert "no case 5" in response.json()["error"]


def test_after_submission_every_save_gets_409(signed_in, reading):
    post(signed_in, 1, {"class_index": 1})
    signed_in.post(reverse("annotator:participant_submit", args=["saving"]), {"confirm_unanswered": "yes"})
    assert post(signed_in, 1, {"class_index": 2}).status_code == 409
    assert post(signed_in, 2, {"class_index": 2}).status_code == 409
    assert list(Answer.objects.values_list("class_index", flat=True)) == [1]


def test_without_changeable_answers_a_change_gets_409_and_a_repeat_is_accepted(signed_in, reading):
    config = config_of(reading.study)
    config.answers_changeable = False
    config.save()
    post(signed_in, 1, {"class_index": 1})
    refused = post(signed_in, 1, {"class_index": 2})
    assert refused.status_code == 409 and "changing" in refused.json()["error"]
    assert post(signed_in, 1, {"class_index": 1}).status_code == 200
    assert Answer.objects.get().class_index == 1 and AnswerHistory.objects.count() == 1


def test_a_case_number_addresses_only_the_requesters_own_order(client, reading):
    """Both participants answer "case 1": each answer lands on the first sample of their own order,
    and neither touches the other's."""
    client.force_login(reading.participant.user)
    post(client, 1, {"class_index": 3})
    client.force_login(reading.other_participant.user)
    post(client, 1, {"class_index": 8})
    mine = Answer.objects.get(participant=reading.participant)
    theirs = Answer.objects.get(participant=reading.other_participant)
    assert mine.item == item_of(reading.participant, 1) and mine.class_index == 3
    assert theirs.item == item_of(reading.other_participant, 1) and theirs.class_index == 8
    assert item_of(reading.participant, 1) != item_of(reading.other_participant, 1)  # seeds 1 and 2 differ here


def test_another_participants_answer_never_shows_on_my_page(client, reading):
    client.force_login(reading.other_participant.user)
    for number in range(1, 5):
        post(client, number, {"class_index": 9})
    client.force_login(reading.participant.user)
    for number in range(1, 5):
        text = client.get(reverse("annotator:participant_case", args=["saving", number])).text
        assert "class-choice current" not in text


def test_every_case_number_saves_onto_the_sample_the_case_page_showed(signed_in, reading):
    total = reading.study.items.count()
    for number in range(1, total + 1):
        post(signed_in, number, {"class_index": number % 13})
    stored = {answer.item_id: answer.class_index for answer in Answer.objects.filter(participant=reading.participant)}
    assert stored == {item_of(reading.participant, n).pk: n % 13 for n in range(1, total + 1)}


@pytest.mark.parametrize(
    "body",
    [
        "[" * 2000 + "]" * 2000,
        '{"class_index": 1, "note": ' + "[" * 1900 + "]" * 1900 + "}",
        '{"class_index": 1, "note": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}",
    ],
    ids=["arrays", "arrays-in-the-object", "objects-in-the-object"],
)
def test_it_refuses_a_deeply_nested_answer_body(signed_in, body):
    response = post(signed_in, 1, body)
    assert response.status_code == 400 and "nests" in response.json()["error"]
    assert not Answer.objects.exists()


def test_brackets_inside_strings_are_not_nesting(signed_in):
    response = post(signed_in, 1, '{"class_index": 1, "note": "[[{\\"[[", "more": "]]"}')
    assert response.status_code == 200


@pytest.fixture
def unopened(client, db):
    """A participant, signed in, none of whose case pages has been served yet."""
    reading = reading_study("unopened", test_samples=2, train_samples=0)
    client.force_login(reading.participant.user)
    return reading


def test_active_time_is_bounded_by_the_time_since_the_case_page_was_first_served(client, unopened):
    before = timezone.now()
    client.get(reverse("annotator:participant_case", args=["unopened", 1]))
    post(client, 1, {"class_index": 1, "active_seconds": 3000}, study="unopened")
    after = timezone.now()
    answer = Answer.objects.get()
    opening = CaseOpening.objects.get(participant=unopened.participant, item=answer.item)
    assert before <= opening.opened_at <= answer.answered_at <= after
    assert 0 <= answer.active_seconds <= (answer.answered_at - opening.opened_at).total_seconds()


def test_a_case_whose_page_was_never_served_gains_no_active_time(client, unopened):
    assert post(client, 1, {"class_index": 1, "active_seconds": 30}, study="unopened").status_code == 200
    assert Answer.objects.get().active_seconds == 0


def test_an_answer_the_study_no_longer_lets_change_gains_no_time(signed_in, reading, clock):
    config = config_of(reading.study)
    config.answers_changeable = False
    config.save()
    post(signed_in, 1, {"class_index": 1, "active_seconds": 10})
    clock.advance(60)
    assert post(signed_in, 1, {"class_index": 1, "active_seconds": 60}).status_code == 200
    assert Answer.objects.get().active_seconds == 10


def test_an_answer_sent_late_keeps_the_time_it_was_given(signed_in):
    before = timezone.now()
    post(signed_in, 1, {"class_index": 2, "answered_seconds_ago": 1800})
    after = timezone.now()
    answer = Answer.objects.get()
    assert before - timedelta(seconds=1800) <= answer.answered_at <= after - timedelta(seconds=1800)
    assert answer.history.get().answered_at == answer.answered_at


def test_a_late_answer_is_dated_no_earlier_than_its_case_was_served_and_no_later_than_now(signed_in, reading):
    post(signed_in, 1, {"class_index": 2, "answered_seconds_ago": 300 * 86_400})
    answer = Answer.objects.get()
    assert answer.answered_at == CaseOpening.objects.get(participant=reading.participant, item=answer.item).opened_at
    before = timezone.now()
    post(signed_in, 2, {"class_index": 2, "answered_seconds_ago": 0})
    assert before <= Answer.objects.get(item=item_of(reading.participant, 2)).answered_at <= timezone.now()


def test_a_late_change_is_never_dated_before_the_value_it_changes(signed_in):
    post(signed_in, 1, {"class_index": 2, "answered_seconds_ago": 100})
    post(signed_in, 1, {"class_index": 3, "answered_seconds_ago": 1000})
    first, second = Answer.objects.get().history.all()
    assert (first.class_index, second.class_index) == (2, 3)
    assert second.answered_at == first.answered_at
