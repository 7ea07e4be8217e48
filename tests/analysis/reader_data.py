"""What the report's sections on the readers are computed from, added to ``answered_study``'s study: the
times of the answers, gallery visits before and after them, second readings of the repeated cases,
answers to a background form and the instructions each reader saw."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from annotator.models import Answer, GalleryVisit, InstructionsSeen, Participant, config_of
from study.models import Sample

# Every reader answers sample ``i`` at START + i minutes.
START = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
BACKGROUND_FORM = [
    {"key": "years", "label": "Years of microscopy", "kind": "number", "options": [], "required": True},
    {"key": "field", "label": "Field", "kind": "choice", "options": ["biology", "pathology"], "required": False},
]
REPEATED_CASES = 3


def answered_at(position: int) -> datetime:
    return START + timedelta(minutes=position)


def visit(study, pseudonym: str, class_index: int, at: datetime, examples: int = 1) -> None:
    participant = Participant.objects.get(study=study, pseudonym=pseudonym)
    sample = Sample.objects.filter(dataset=study.dataset, split="train").first()
    visits = GalleryVisit.objects.bulk_create(
        GalleryVisit(participant=participant, sample=sample, class_index=class_index) for _ in range(examples)
    )
    GalleryVisit.objects.filter(pk__in=[v.pk for v in visits]).update(visited_at=at)


def add_reader_data(study, truth: np.ndarray) -> dict:
    """Times, gallery visits, repeats, background and instructions; returns what was added, for the tests.

    - Active seconds: 10 + the sample's position for a right answer, 3 times that for a wrong one.
    - expert-01 looked at class 0 before every answer (twice), class 1 after every answer, and class 2
      between its cases at positions 2 (not looked up) and 15 (looked up); expert-02 at class 3 first
      thing; scholar-01 at class 4 before its cases. Nobody else looked.
    - The study repeats ``REPEATED_CASES`` cases: expert-01 read them alike, scholar-01 answered the truth
      the second time, expert-02 read only the first twice.
    - expert-01 and scholar-02 answered the background form; two versions of the instructions.
    """
    items = {item.position: item for item in study.items.all()}
    answers = list(Answer.objects.filter(participant__study=study).select_related("item"))
    for answer in answers:
        position = answer.item.position
        answer.answered_at = answered_at(position)
        right = answer.class_index == truth[position]
        answer.active_seconds = float(10 + position) * (1 if right else 3)
    Answer.objects.bulk_update(answers, ["answered_at", "active_seconds"])

    visit(study, "expert-01", 0, START - timedelta(hours=1), examples=2)
    visit(study, "expert-01", 1, answered_at(len(items)) + timedelta(hours=1))
    visit(study, "expert-01", 2, answered_at(10))
    visit(study, "expert-02", 3, START - timedelta(minutes=5))
    visit(study, "scholar-01", 4, START - timedelta(minutes=5))

    config = config_of(study)
    config.repeated_cases = REPEATED_CASES
    config.background_fields = BACKGROUND_FORM
    config.save()
    repeated = config.repeated_item_indices(len(items))
    first = {
        (a.participant.pseudonym, a.item.position): a.class_index
        for a in Answer.objects.filter(participant__study=study).select_related("participant", "item")
    }
    seconds = []
    for pseudonym, positions in (("expert-01", repeated), ("scholar-01", repeated), ("expert-02", repeated[:1])):
        participant = Participant.objects.get(study=study, pseudonym=pseudonym)
        for position in positions:
            again = first[(pseudonym, position)] if pseudonym != "scholar-01" else int(truth[position])
            seconds.append(Answer(
                participant=participant, item=items[position], repeat=1, class_index=again,
                answered_at=answered_at(len(items) + position), active_seconds=5.0, display_percentiles={},
            ))
    Answer.readings.bulk_create(seconds)

    Participant.objects.filter(study=study, pseudonym="expert-01").update(
        background={"years": 12, "field": "pathology"}, background_given_at=START
    )
    Participant.objects.filter(study=study, pseudonym="scholar-02").update(
        background={"years": 1}, background_given_at=START
    )
    InstructionsSeen.record(Participant.objects.get(study=study, pseudonym="expert-01"), "Read carefully.",
                            at=START - timedelta(hours=2))
    InstructionsSeen.record(Participant.objects.get(study=study, pseudonym="expert-01"), "Read carefully, please.",
                            at=START - timedelta(hours=1))
    InstructionsSeen.record(Participant.objects.get(study=study, pseudonym="scholar-01"), "Read carefully.",
                            at=START - timedelta(minutes=30))
    return {"repeated": repeated}
