"""What the report needs to know about the readers besides their answers, each by pseudonym.

- ``reader_covariates``: the answers to the study's background form (reader covariates);
- ``repeat_readings``: the first and second reading of each repeated case (test-retest consistency);
- ``instructions_seen``: the wording of the instructions each reader was shown (framing).

The looks at the training gallery (anchoring) are ``GalleryVisit`` rows, which the report reads
grouped by reader and class (``analysis.study_arrays``) and the coordinator exports one by one
(``annotator.answer_files.export_gallery_visits``).

The study's answers themselves are ``Answer.objects`` (first readings only; see ``annotator.models``).
Practice answers of the training phase are not reader data of the study and appear nowhere here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from annotator.models import Answer, Arm, InstructionsSeen, config_of
from study.models import Study


def reader_covariates(study: Study) -> dict[str, dict[str, object]]:
    """{pseudonym: {question name: answer}} for every participant of the study, over the questions
    of its background form as they stand (``StudyConfig.background_fields``): a number (int or
    float), a text, a chosen option, or None where the participant gave none (or was never asked)."""
    keys = config_of(study).background_keys()
    return {
        pseudonym: {key: (background or {}).get(key) for key in keys}
        for pseudonym, background in study.participants.order_by("pseudonym").values_list("pseudonym", "background")
    }


@dataclass(frozen=True)
class RepeatReading:
    """A repeated case a participant answered both times: the case's place among the study's samples
    (``StudySample.position``) and the class index given at each reading."""

    position: int
    first: int
    second: int


def repeat_readings(study: Study) -> dict[str, list[RepeatReading]]:
    """{pseudonym: [each repeated case they answered both times, in the order of the study's
    samples]}: the readings alone (in a sequential study each reading of a case also has an answer beside
    the suggestion, which test-retest leaves out). Participants with no such case are left out."""
    readings: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
    pseudonyms = {}
    rows = Answer.readings.filter(participant__study=study, arm=Arm.UNAIDED).values_list(
        "participant_id", "participant__pseudonym", "item_id", "item__position", "repeat", "class_index"
    )
    positions = {}
    for participant_id, pseudonym, item_id, position, repeat, class_index in rows:
        readings[(participant_id, item_id)][repeat] = class_index
        pseudonyms[participant_id] = pseudonym
        positions[item_id] = position
    pairs: dict[str, list[RepeatReading]] = defaultdict(list)
    for (participant_id, item_id), by_repeat in readings.items():
        if 0 in by_repeat and 1 in by_repeat:
            pairs[pseudonyms[participant_id]].append(RepeatReading(positions[item_id], by_repeat[0], by_repeat[1]))
    return {pseudonym: sorted(found, key=lambda pair: pair.position) for pseudonym, found in sorted(pairs.items())}


@dataclass(frozen=True)
class InstructionsVersion:
    digest: str  # SHA-256 of the text
    text: str
    first_seen_at: datetime


def instructions_seen(study: Study) -> dict[str, list[InstructionsVersion]]:
    """{pseudonym: [each wording of the instructions they were shown, oldest first]}; a participant
    who never opened the instructions page has an empty list."""
    seen: dict[str, list[InstructionsVersion]] = {
        pseudonym: [] for pseudonym in study.participants.order_by("pseudonym").values_list("pseudonym", flat=True)
    }
    for row in InstructionsSeen.objects.filter(participant__study=study).select_related("participant").order_by(
        "first_seen_at", "id"
    ):
        seen[row.participant.pseudonym].append(InstructionsVersion(row.digest, row.text, row.first_seen_at))
    return seen
