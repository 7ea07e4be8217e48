"""Cases read twice: where they stand in each order, how both readings are stored, and what the report gets."""

import csv
import io
import json
import math
import re


import pytest

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from annotator.answer_files import export_answers, import_answers
from annotator.answers import save_answer
from annotator.models import Answer, CaseOpening, Participant, config_of, max_repeated_cases
from annotator.reader_data import repeat_readings
from tests.annotator.openings import opened_an_hour_ago
from tests.factories import reading_study

N_SAMPLES = 40
REPEATS = 10


@pytest.fixture
def reading(db):
    reading = reading_study("twice", test_samples=N_SAMPLES, train_samples=0)
    config = config_of(reading.study)
    config.repeated_cases = REPEATS
    config.save()
    return reading


def post(client, number, class_index, seconds=1):
    url = reverse("annotator:participant_answer", args=["twice", number])
    return client.post(url, json.dumps({"class_index": class_index, "active_seconds": seconds}), content_type="application/json")


def test_each_order_holds_the_repeated_cases_twice_at_least_a_third_of_the_order_apart(reading):
    repeated = {reading.study.items.order_by("position")[i].pk for i in config_of(reading.study).repeated_item_indices(N_SAMPLES)}
    assert len(repeated) == REPEATS
    for seed in range(30):
        participant = Participant(study=reading.study, cohort=reading.participant.cohort, order_seed=seed)
        cases = participant.cases()
        assert len(cases) == N_SAMPLES + REPEATS
        assert [case.number for case in cases] == list(range(1, N_SAMPLES + REPEATS + 1))
        places: dict[int, list[int]] = {}
        for case in cases:
            places.setdefault(case.item.pk, []).append(case.number)
        assert {pk for pk, numbers in places.items() if len(numbers) == 2} == repeated
        assert all(len(numbers) == 1 for pk, numbers in places.items() if pk not in repeated)
        for pk in repeated:
            first, second = (case for case in cases if case.item.pk == pk)
            assert (first.repeat, second.repeat) == (0, 1)
            assert second.number - first.number >= math.ceil(len(cases) / 3)


def test_every_participant_repeats_the_same_cases_in_an_order_of_their_own(reading):
    def twice(participant):
        return [case.item.pk for case in participant.cases() if case.repeat == 1]

    mine, theirs = reading.participant, reading.other_participant
    assert sorted(twice(mine)) == sorted(twice(theirs))
    assert [c.item.pk for c in mine.cases()] != [c.item.pk for c in theirs.cases()]
    assert [c.item.pk for c in mine.cases()] == [c.item.pk for c in mine.cases()], "the same every time"
    assert mine.order() == [c.item for c in mine.cases() if c.repeat == 0]


def test_a_larger_number_of_repeats_keeps_the_cases_of_a_smaller_one(reading):
    config = config_of(reading.study)
    few = set(config.repeated_item_indices(N_SAMPLES))
    config.repeated_cases = REPEATS - 4
    assert set(config.repeated_item_indices(N_SAMPLES)) < few


def test_without_repeats_the_order_is_the_seeded_permutation_it_always_was(db):
    reading = reading_study("once", test_samples=6, train_samples=0)
    import numpy as np

    items = list(reading.study.items.order_by("position"))
    expected = [items[i] for i in np.random.default_rng(reading.participant.order_seed).permutation(6)]
    assert reading.participant.order() == expected
    assert [(c.item, c.repeat) for c in reading.participant.cases()] == [(item, 0) for item in expected]


def test_both_readings_are_stored_apart_each_with_its_own_time_and_history(client, reading, clock):
    participant = reading.participant
    cases = participant.cases()
    first, second = (case for case in cases if case.item.pk == next(c.item.pk for c in cases if c.repeat == 1))
    opened_an_hour_ago(participant)
    client.force_login(participant.user)

    assert post(client, first.number, 3, seconds=20).status_code == 200
    clock.advance(10)
    CaseOpening.record(participant, second.item, repeat=1)
    clock.advance(6)
    reply = post(client, second.number, 5, seconds=8)
    assert reply.status_code == 200
    assert reply.json()["answered"] == 2 and reply.json()["total"] == N_SAMPLES + REPEATS
    post(client, second.number, 6, seconds=4)

    readings = {a.repeat: a for a in Answer.readings.filter(participant=participant)}
    assert readings[0].item == readings[1].item == first.item
    assert (readings[0].class_index, readings[0].active_seconds, readings[0].changes) == (3, 20.0, 0)
    assert (readings[1].class_index, readings[1].changes) == (6, 1)
    assert readings[1].active_seconds == 6.0, "the second reading's time is bounded by its own opening"
    assert list(readings[1].history.values_list("class_index", flat=True)) == [5, 6]
    assert list(readings[0].history.values_list("class_index", flat=True)) == [3]


def test_one_answer_per_case_per_reading_is_a_database_constraint(reading):
    participant, item = reading.participant, reading.study.items.first()
    Answer.readings.create(participant=participant, item=item, repeat=0, class_index=1, display_percentiles={})
    Answer.readings.create(participant=participant, item=item, repeat=1, class_index=2, display_percentiles={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.readings.create(participant=participant, item=item, repeat=1, class_index=3, display_percentiles={})
    with pytest.raises(IntegrityError), transaction.atomic():
        Answer.readings.create(participant=participant, item=item, repeat=2, class_index=3, display_percentiles={})


def test_the_comparison_sees_first_readings_only(reading):
    participant = reading.participant
    for case in participant.cases():
        save_answer(participant, case.item, 7 if case.repeat else 1, repeat=case.repeat)
    assert Answer.readings.filter(participant=participant).count() == N_SAMPLES + REPEATS
    assert Answer.objects.filter(participant=participant).count() == N_SAMPLES
    assert participant.answers.count() == N_SAMPLES
    assert set(Answer.objects.values_list("class_index", flat=True)) == {1}


def test_a_second_reading_looks_like_any_other_case(client, reading):
    """Nothing on the page tells that a case is shown a second time."""
    participant = reading.participant
    client.force_login(participant.user)
    cases = participant.cases()
    second = next(case for case in cases if case.repeat == 1)
    first = next(case for case in cases if case.repeat == 0 and case.item == second.item)
    post(client, first.number, 4)
    page = client.get(reverse("annotator:participant_case", args=["twice", second.number])).text
    assert "repeat" not in page.lower() and "again" not in page.lower() and "second" not in page.lower()
    assert 'class="class-choice current"' not in page, "the first reading's answer is not shown"


def test_the_report_gets_each_readers_first_and_second_answers_of_the_repeated_cases(reading):
    participant = reading.participant
    cases = participant.cases()
    repeated = [case.item for case in cases if case.repeat == 1]
    for case in cases:
        if case.item in repeated:
            save_answer(participant, case.item, 2 if case.repeat == 0 else (2 if case.item != repeated[0] else 9), repeat=case.repeat)
    # The other participant answered one repeated case once only: no pair.
    save_answer(reading.other_participant, repeated[0], 4)

    readings = repeat_readings(reading.study)
    assert set(readings) == {participant.pseudonym}
    by_position = sorted(repeated, key=lambda item: item.position)
    assert [(r.position, r.first, r.second) for r in readings[participant.pseudonym]] == [
        (item.position, 2, 9) if item == repeated[0] else (item.position, 2, 2) for item in by_position
    ]


def test_the_export_names_the_reading_and_imports_back(reading, tmp_path):
    participant = reading.participant
    for case in participant.cases()[:30]:
        save_answer(participant, case.item, 1 + case.repeat, repeat=case.repeat)
    path = tmp_path / "answers.csv"
    written = export_answers(reading.study, path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert written == len(rows) == 30
    cases = {case.number: case for case in participant.cases()}
    for row in rows:
        case = cases[int(row["position"])]
        assert row["sample"] == case.item.sample.source_id and int(row["repeat"]) == case.repeat
        assert int(row["class_index"]) == 1 + case.repeat
    seconds = sum(1 for row in rows if row["repeat"] == "1")

    Answer.readings.all().delete()
    assert import_answers(reading.study, path) == 30
    assert Answer.readings.filter(repeat=1).count() == seconds
    assert set(Answer.readings.filter(repeat=1).values_list("class_index", flat=True)) <= {2}


def test_an_import_refuses_a_second_reading_of_a_case_the_study_does_not_repeat(reading, tmp_path):
    from study.operations import OperationError

    once = next(case.item for case in reading.participant.cases() if case.item.pk not in {
        c.item.pk for c in reading.participant.cases() if c.repeat == 1
    })
    path = tmp_path / "answers.csv"
    path.write_text(f"participant,cohort,sample,class,repeat\nexpert-01,expert,{once.sample.source_id},1,1\n")
    with pytest.raises(OperationError, match=r"line 2, column 5 \(repeat\).*not one of the cases"):
        import_answers(reading.study, path)


def coordinator_post(client, reading, **fields):
    data = {"action": "window", "window-repeated_cases": "", "window-opens_at": "", "window-closes_at": "",
            "window-invitations_expire_at": ""}
    data.update({f"window-{name}": value for name, value in fields.items()})
    return client.post(reverse("annotator:coordinator_study", args=[reading.study.name]), data)


def test_the_coordinator_sets_the_number_of_repeats_up_to_a_quarter_of_the_cases(client, reading):
    client.force_login(reading.coordinator)
    assert max_repeated_cases(N_SAMPLES) == 10
    response = coordinator_post(client, reading, repeated_cases=11)
    assert response.status_code == 400
    assert "At most 10" in " ".join(response.context["window_form"].errors["repeated_cases"])
    assert coordinator_post(client, reading, repeated_cases=4).status_code == 302
    assert config_of(reading.study).__class__.objects.get(study=reading.study).repeated_cases == 4


def test_the_number_of_repeats_is_fixed_once_anyone_has_answered(client, reading):
    save_answer(reading.participant, reading.study.items.first(), 1)
    client.force_login(reading.coordinator)
    page = client.get(reverse("annotator:coordinator_study", args=[reading.study.name])).text
    assert re.search(r'<input type="number" name="window-repeated_cases"[^>]* disabled', page), "shown fixed"
    assert "Fixed: participants have answered already" in page
    coordinator_post(client, reading, repeated_cases=3)
    assert config_of(reading.study).__class__.objects.get(study=reading.study).repeated_cases == REPEATS


def test_the_model_refuses_a_change_of_the_repeats_once_anyone_has_answered(reading):
    save_answer(reading.participant, reading.study.items.first(), 1)
    config = config_of(reading.study).__class__.objects.get(study=reading.study)
    config.repeated_cases = 3
    with pytest.raises(ValidationError, match="would change their order"):
        config.full_clean()


def test_the_progress_counts_both_readings_against_each_participants_cases(reading):
    from annotator.operations import study_progress

    participant = reading.participant
    for case in participant.cases()[:12]:
        save_answer(participant, case.item, 1, repeat=case.repeat)
    people = {p.pseudonym: p for p in study_progress(reading.study).participants}
    assert (people["expert-01"].answered, people["expert-01"].total) == (12, N_SAMPLES + REPEATS)
    text_total = io.StringIO()
    export_answers(reading.study, text_total)
    assert text_total.getvalue().count("\n") == 13
