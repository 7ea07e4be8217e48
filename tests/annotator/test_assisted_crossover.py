"""A crossover assisted study: blocks of cases alternate aided and unaided, the two sequence groups of
each cohort start opposite and swap in session 2, which opens only after the wash-out."""

import json
import re
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from annotator.assistance import crossover_arm, ensure_sequence_group
from annotator.models import Answer, Arm, Participant
from tests.analysis.test_study_arrays import add_model
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study

N_SAMPLES = 8
BLOCK = 2


@pytest.fixture
def crossover(db):
    reading = reading_study("crossed", test_samples=N_SAMPLES, train_samples=0)
    add_model(reading.study, "gapnet", list(range(N_SAMPLES)))
    call_command("set_assistance", "crossed", "crossover", "--suggestions", "gapnet", "--block-size", str(BLOCK),
                 "--washout-days", "28")
    return reading


def url(name, *args):
    return reverse(f"annotator:{name}", args=["crossed", *args])


def post(client, number, body):
    return client.post(url("participant_answer", number), json.dumps(body), content_type="application/json")


def arm_on_page(client, number) -> str:
    return re.search(r'data-arm="(\w+)"', client.get(url("participant_case", number)).text).group(1)


def test_sequence_groups_are_balanced_within_each_cohort(crossover):
    cohort = crossover.participant.cohort
    people = [crossover.participant] + [
        Participant.objects.create(study=crossover.study, cohort=cohort, pseudonym=f"expert-{n:02d}", order_seed=n)
        for n in range(2, 6)
    ]
    groups = [ensure_sequence_group(person) for person in people]
    assert sorted(groups) == [0, 0, 0, 1, 1]
    assert ensure_sequence_group(people[0]) == groups[0], "given once"


def test_blocks_alternate_and_the_two_groups_start_opposite(crossover):
    assistance = crossover.study.assistance
    first = [crossover_arm(assistance, 0, n) for n in range(1, 9)]
    assert first == ["unaided", "unaided", "aided", "aided", "unaided", "unaided", "aided", "aided"]
    assert [crossover_arm(assistance, 1, n) for n in range(1, 9)] == [
        "aided" if arm == "unaided" else "unaided" for arm in first
    ]


def test_the_second_session_reads_the_same_blocks_in_a_new_order(crossover):
    participant = crossover.participant
    first, second = participant.case_plan(N_SAMPLES, 1), participant.case_plan(N_SAMPLES, 2)
    assert sorted(second) == sorted(first) and second != first
    blocks = [set(first[i : i + BLOCK]) for i in range(0, N_SAMPLES, BLOCK)]
    assert all(set(second[i : i + BLOCK]) in blocks for i in range(0, N_SAMPLES, BLOCK))


def test_a_crossover_study_reads_no_case_twice_within_a_session(crossover):
    from django.core.exceptions import ValidationError

    from annotator.models import config_of

    config = config_of(crossover.study)
    config.repeated_cases = 1
    with pytest.raises(ValidationError, match="reads every case twice already"):
        config.full_clean()


def test_an_aided_block_shows_the_suggestion_from_the_start(client, crossover):
    client.force_login(crossover.participant.user)
    group = ensure_sequence_group(crossover.participant)
    aided = next(n for n in range(1, 9) if crossover_arm(crossover.study.assistance, group, n) == Arm.AIDED)
    unaided = next(n for n in range(1, 9) if crossover_arm(crossover.study.assistance, group, n) == Arm.UNAIDED)
    assert "The model suggests" in client.get(url("participant_case", aided)).text
    assert "The model suggests" not in client.get(url("participant_case", unaided)).text
    reply = post(client, unaided, {"class_index": 1, "arm": "aided"})
    assert reply.status_code == 409 and "is read unaided" in reply.json()["error"]
    assert post(client, aided, {"class_index": 1, "arm": "aided"}).status_code == 200
    answer = Answer.readings.get(participant=crossover.participant)
    assert (answer.arm, answer.session, answer.suggested_class) == ("aided", 1, answer.item.suggestion.class_index)


def answer_the_session(client, participant, session):
    for number in range(1, N_SAMPLES + 1):
        arm = arm_on_page(client, number)
        assert post(client, number, {"class_index": 2, "arm": arm, "session": session}).status_code == 200


def test_the_second_session_opens_after_the_wash_out_with_the_arms_swapped(client, crossover):
    participant = crossover.participant
    opened_an_hour_ago(participant)
    client.force_login(participant.user)
    answer_the_session(client, participant, 1)
    assert client.post(url("participant_submit")).status_code == 302
    participant.refresh_from_db()
    assert participant.first_session_submitted_at is not None and not participant.is_submitted

    # During the wash-out: the pages say when the second session opens; nothing is taken.
    waiting = client.get(url("participant_case", 1), follow=True).text
    opens = participant.first_session_submitted_at + timedelta(days=28)
    assert f"Your second session opens at <strong>{opens:%Y-%m-%d %H:%M} UTC</strong>" in " ".join(waiting.split())
    reply = post(client, 1, {"class_index": 2, "arm": "unaided", "session": 2})
    assert reply.status_code == 409 and "Your second session opens at" in reply.json()["error"]

    # After it, every case again in the other arm, in an order of its own.
    Participant.objects.filter(pk=participant.pk).update(first_session_submitted_at=timezone.now() - timedelta(days=29))
    participant.refresh_from_db()
    assert [c.item.pk for c in participant.cases(2)] != [c.item.pk for c in participant.cases(1)]
    first = {a.item_id: a.arm for a in Answer.readings.filter(participant=participant, session=1)}
    stale = post(client, 1, {"class_index": 2, "arm": "unaided", "session": 1})
    assert stale.status_code == 409 and "given in session 1" in stale.json()["error"]
    opened_an_hour_ago(participant)
    answer_the_session(client, participant, 2)
    second = {a.item_id: a.arm for a in Answer.readings.filter(participant=participant, session=2)}
    assert len(second) == N_SAMPLES and all(second[item] != arm for item, arm in first.items())
    participant.refresh_from_db()
    assert participant.second_session_started_at > participant.first_session_submitted_at
    assert client.post(url("participant_submit")).status_code == 302
    participant.refresh_from_db()
    assert participant.is_submitted


def test_a_reading_of_each_arm_makes_the_comparison_with_the_model_read_the_unaided_ones(client, crossover):
    participant = crossover.participant
    opened_an_hour_ago(participant)
    client.force_login(participant.user)
    answer_the_session(client, participant, 1)
    assert participant.answers.count() == N_SAMPLES // 2


def test_the_progress_page_says_each_readers_session_and_counts_it(client, crossover):
    from annotator.operations import study_progress

    participant = crossover.participant
    opened_an_hour_ago(participant)
    client.force_login(participant.user)
    answer_the_session(client, participant, 1)
    client.post(url("participant_submit"))
    Participant.objects.filter(pk=participant.pk).update(first_session_submitted_at=timezone.now() - timedelta(days=29))
    people = {p.pseudonym: p for p in study_progress(crossover.study).participants}
    assert people["expert-01"].reads.startswith("session 2, starting ")
    assert people["expert-01"].answered == 0, "the second session's progress, not the first's"
    client.force_login(crossover.coordinator)
    text = client.get(reverse("annotator:coordinator_progress", args=["crossed"])).text
    assert "<th scope=\"col\">Reads</th>" in text and "session 2, starting" in text
