"""The progress page and the list of studies: the numbers match the stored answers."""

from datetime import timedelta

import pytest

from django.urls import reverse

from annotator.answers import save_answer, submit
from annotator.models import GalleryVisit
from annotator.operations import study_progress, study_summaries
from study.models import Study
from tests.annotator.openings import opened_an_hour_ago
from study.roles import COORDINATOR
from tests.factories import make_user, reading_study


@pytest.fixture
def reading(db, clock):
    """Of 4 samples, the expert answers 3 (one of them twice, with a change) and submits; the
    scholar answers 1; a simulated reader none. An hour goes by before each answer."""
    reading = reading_study("coord-progress", test_samples=4, train_samples=1)
    order = reading.participant.order()
    opened_an_hour_ago(reading.participant, reading.other_participant)
    clock.step = 3600
    save_answer(reading.participant, order[0], 1, 12.5)
    save_answer(reading.participant, order[0], 2, 7.5)
    save_answer(reading.participant, order[1], 0, 30)
    save_answer(reading.participant, order[2], 3, 3600)
    submit(reading.participant)
    save_answer(reading.other_participant, reading.other_participant.order()[0], 5, 4)
    clock.step = 0
    reading.study.participants.create(
        cohort=reading.participant.cohort, pseudonym="expert-99", order_seed=3, simulated=True
    )
    return reading


def by_pseudonym(progress):
    return {person.pseudonym: person for person in progress.participants}


def test_each_participants_numbers_match_their_answers(reading):
    people = by_pseudonym(study_progress(reading.study))
    expert, scholar, simulated = people["expert-01"], people["scholar-01"], people["expert-99"]
    assert (expert.answered, expert.total, expert.submitted, expert.simulated) == (3, 4, True, False)
    assert expert.active_seconds == pytest.approx(12.5 + 7.5 + 30 + 3600)
    assert expert.active_time == "1:00:50"
    assert expert.cohort == "expert"
    assert (scholar.answered, scholar.active_seconds, scholar.submitted) == (1, 4, False)
    assert (simulated.answered, simulated.active_seconds, simulated.simulated) == (0, 0.0, True)
    assert simulated.last_activity is None


def test_last_activity_is_the_latest_answer_visit_or_submission(reading):
    scholar = reading.other_participant
    answered_at = scholar.answers.get().answered_at
    assert by_pseudonym(study_progress(reading.study))["scholar-01"].last_activity == answered_at
    later = answered_at + timedelta(hours=2)
    visit = GalleryVisit.objects.create(
        participant=scholar, sample=reading.study.dataset.samples.get(split="train"), class_index=0
    )
    GalleryVisit.objects.filter(pk=visit.pk).update(visited_at=later)
    assert by_pseudonym(study_progress(reading.study))["scholar-01"].last_activity == later
    expert = reading.participant
    expert.refresh_from_db()
    assert by_pseudonym(study_progress(reading.study))["expert-01"].last_activity == expert.submitted_at


def test_each_sample_counts_who_answered_it_in_study_order(reading):
    progress = study_progress(reading.study)
    assert [s.position for s in progress.samples] == sorted(s.position for s in progress.samples)
    items = {item.position: item for item in reading.study.items.select_related("sample")}
    for sample in progress.samples:
        item = items[sample.position]
        assert sample.answered == item.answers.count()
        assert sample.source_id == item.sample.source_id
    assert sum(s.answered for s in progress.samples) == progress.answered == 4
    assert (progress.expected, progress.submitted) == (3 * 4, 1)


def test_the_page_shows_the_numbers(client, reading):
    client.force_login(reading.coordinator)
    text = client.get(reverse("annotator:coordinator_progress", args=[reading.study.name])).text
    assert "4 of 12 answers; 1 of 3 participants have submitted" in text
    assert "3 / 4" in text and "1:00:50" in text and "simulated" in text
    for item in reading.study.items.select_related("sample"):
        assert item.sample.source_id in text
    assert reverse("annotator:coordinator_export", args=[reading.study.name]) in text


def test_the_coordinator_runs_the_study_blind_to_the_samples_classes(client, reading):
    """The reference classes are the analyst's: no coordinator page or export of the study shows them."""
    client.force_login(reading.coordinator)
    names = {reading.study.label_set.by_index(item.sample.class_indices[0]).name for item in reading.study.items.all()}
    progress = client.get(reverse("annotator:coordinator_progress", args=[reading.study.name])).text
    samples_table = progress[progress.index("<h2>Samples</h2>"):]
    assert not [name for name in names if name in samples_table]
    export = client.get(reverse("annotator:coordinator_export", args=[reading.study.name])).content.decode()
    assert "reference" not in export.splitlines()[0] and "truth" not in export.splitlines()[0]


def test_the_list_of_studies_summarises_each(client, reading):
    empty = reading_study("coord-progress-empty", test_samples=2, train_samples=0)
    summaries = {s.study.name: s for s in study_summaries(Study.objects.all())}
    busy = summaries["coord-progress"]
    assert (busy.samples, busy.participants, busy.submitted, busy.answers) == (4, 3, 1, 4)
    assert busy.percent_answered == pytest.approx(100 * 4 / 12)
    idle = summaries[empty.study.name]
    assert (idle.samples, idle.participants, idle.submitted, idle.answers) == (2, 2, 0, 0)
    client.force_login(reading.coordinator)
    text = client.get(reverse("annotator:coordinator_studies")).text
    assert reverse("annotator:coordinator_study", args=["coord-progress"]) in text
    assert reverse("annotator:coordinator_study", args=[empty.study.name]) not in text, "not their study"
    client.force_login(make_user("lab-head", COORDINATOR))
    text = client.get(reverse("annotator:coordinator_studies")).text
    assert reverse("annotator:coordinator_study", args=["coord-progress"]) in text
    assert reverse("annotator:coordinator_study", args=[empty.study.name]) in text
    assert "4 (33%)" in text
