"""After the run, straight from the database: is every acknowledged answer stored exactly once, with
the class the server acknowledged last, and does each answer's history agree with it?

For each participant and case the client kept the classes the server acknowledged, in order. The
stored answer must carry the last of them; its history must be exactly those values with repeats in a
row collapsed (a repeated save is no change); its latest history row must equal it; and ``changes``
must be the number of history rows less one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby

from django.db.models import Count

from annotator.models import Answer, AnswerHistory, Participant
from loadtest.client import ParticipantLog

EXAMPLES = 10


@dataclass
class Verification:
    acknowledged_cases: int = 0  # (participant, case) pairs with at least one acknowledgement
    stored: int = 0  # answers in the database for the study
    duplicates: int = 0  # (participant, sample) pairs stored more than once
    missing: int = 0  # acknowledged cases with no stored answer
    wrong_class: int = 0  # stored class differs from the last acknowledged one
    history_inconsistencies: int = 0
    stored_without_acknowledgement: int = 0  # saved, but the participant never saw it acknowledged
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.duplicates or self.missing or self.wrong_class or self.history_inconsistencies)

    def note(self, problem: str) -> None:
        if len(self.problems) < EXAMPLES:
            self.problems.append(problem)


def collapse_repeats(values: list[int]) -> list[int]:
    return [value for value, _ in groupby(values)]


def verify(study_name: str, logs: list[ParticipantLog]) -> Verification:
    result = Verification()
    participants = {
        p.user.username: p for p in Participant.objects.filter(study__name=study_name).select_related("user", "study")
    }
    answers = list(Answer.objects.filter(participant__study__name=study_name).values("id", "participant_id", "item_id", "class_index", "changes"))
    result.stored = len(answers)
    result.duplicates = (
        Answer.objects.filter(participant__study__name=study_name)
        .values("participant_id", "item_id").annotate(copies=Count("id")).filter(copies__gt=1).count()
    )
    by_case = defaultdict(list)
    for answer in answers:
        by_case[(answer["participant_id"], answer["item_id"])].append(answer)
    history = defaultdict(list)
    for row in (
        AnswerHistory.objects.filter(answer__participant__study__name=study_name)
        .order_by("answer_id", "answered_at", "id").values_list("answer_id", "class_index")
    ):
        history[row[0]].append(row[1])

    for answer in answers:
        rows = history[answer["id"]]
        if not rows or rows[-1] != answer["class_index"] or answer["changes"] != len(rows) - 1:
            result.history_inconsistencies += 1
            result.note(
                f"answer {answer['id']}: class {answer['class_index']}, changes {answer['changes']}, history {rows}"
            )

    acknowledged_keys = set()
    for log in logs:
        participant = participants.get(log.username)
        if participant is None:
            raise LookupError(f"{log.username} is not a participant of {study_name!r}")
        order = participant.order()
        for number, classes in sorted(log.acknowledged.items()):
            item = order[number - 1]
            key = (participant.pk, item.pk)
            acknowledged_keys.add(key)
            result.acknowledged_cases += 1
            stored = by_case.get(key, [])
            where = f"{log.username} case {number}"
            if not stored:
                result.missing += 1
                result.note(f"{where}: acknowledged {classes}, nothing stored")
                continue
            answer = stored[0]
            if answer["class_index"] != classes[-1]:
                result.wrong_class += 1
                result.note(f"{where}: acknowledged {classes}, stored {answer['class_index']}")
            if history[answer["id"]] != collapse_repeats(classes):
                result.history_inconsistencies += 1
                result.note(f"{where}: acknowledged {classes}, history {history[answer['id']]}")
    result.stored_without_acknowledgement = sum(1 for key in by_case if key not in acknowledged_keys)
    return result
