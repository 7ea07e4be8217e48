"""Storing a participant's answer exactly once, whatever double clicks, retries or a second tab do.

One ``Answer`` per participant and sample is a database constraint; a save runs in a transaction
that first locks the participant's row (``select_for_update``), so a participant's saves and their
final submission happen one after the other. Where two writers still collide (a unique-constraint
race, or SQLite answering "database is locked" instead of waiting when a reading transaction wants
to write), the whole transaction is rolled back and tried again after a short random pause.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from annotator.models import Answer, AnswerHistory, Participant, config_of
from study.models import StudySample

# One request never adds more active time than this: a tab left open over a weekend is not work.
MAX_ACTIVE_SECONDS_PER_SAVE = 3600.0
ATTEMPTS = 30


class AnswerRejected(Exception):
    """A save the server refuses; ``status`` is the HTTP status that says why (400 or 409)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SavedAnswer:
    answer: Answer
    changed: bool  # whether this save stored a new value (False for a repeat of the current one)
    answered: int  # how many of the study's samples the participant has answered
    total: int


def parse_class_index(value, class_count: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnswerRejected(f"class_index: expected a whole number, got {value!r}", 400)
    if not 0 <= value < class_count:
        raise AnswerRejected(f"class_index: {value} is not a class of this study (0-{class_count - 1})", 400)
    return value


def parse_active_seconds(value) -> float:
    """Seconds of active work since the last save, clamped to ``MAX_ACTIVE_SECONDS_PER_SAVE``."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise AnswerRejected(f"active_seconds: expected a number of seconds >= 0, got {value!r}", 400)
    return min(float(value), MAX_ACTIVE_SECONDS_PER_SAVE)


def save_answer(participant: Participant, item: StudySample, class_index, active_seconds=None) -> SavedAnswer:
    """Store ``class_index`` as the participant's answer for ``item``.

    Saving the current value again adds the active time but is no change: no history row, the same
    ``changes`` count. Raises ``AnswerRejected`` for a value outside the label set (400), after the
    final submission, or for a change when the study does not allow changes (409).
    """
    if item.study_id != participant.study_id:
        raise AnswerRejected("The sample is not part of this participant's study.", 400)
    class_index = parse_class_index(class_index, len(participant.study.label_set))
    seconds = parse_active_seconds(active_seconds)
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                return _save_locked(participant.pk, item, class_index, seconds)
        except (IntegrityError, OperationalError):
            if attempt == ATTEMPTS:
                raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)
            attempt += 1


def _save_locked(participant_pk: int, item: StudySample, class_index: int, seconds: float) -> SavedAnswer:
    participant = Participant.objects.select_for_update().select_related("study__dataset").get(pk=participant_pk)
    if participant.is_submitted:
        raise AnswerRejected("The study is submitted; answers can no longer change.", 409)
    config = config_of(participant.study)
    answer = Answer.objects.select_for_update().filter(participant=participant, item=item).first()
    # Taken once the answer is read (and locked), so that the history's times follow the order in
    # which the values were stored.
    now = timezone.now()
    if answer is None:
        answer = Answer.objects.create(
            participant=participant,
            item=item,
            class_index=class_index,
            answered_at=now,
            active_seconds=seconds,
            display_percentiles=config.display_percentiles,
        )
        changed = True
    elif answer.class_index == class_index:
        answer.active_seconds += seconds
        answer.save(update_fields=["active_seconds"])
        changed = False
    elif not config.answers_changeable:
        raise AnswerRejected("This study does not allow changing an answer once given.", 409)
    else:
        answer.class_index = class_index
        answer.answered_at = now
        answer.active_seconds += seconds
        answer.changes += 1
        answer.display_percentiles = config.display_percentiles
        answer.save(update_fields=["class_index", "answered_at", "active_seconds", "changes", "display_percentiles"])
        changed = True
    if changed:
        # The history keeps the active time spent on the case up to each value.
        AnswerHistory.objects.create(
            answer=answer, class_index=class_index, answered_at=now, active_seconds=answer.active_seconds
        )
    return SavedAnswer(
        answer=answer,
        changed=changed,
        answered=participant.answers.count(),
        total=participant.study.items.count(),
    )


def submit(participant: Participant) -> Participant:
    """The final submission: from now on the participant's answers are read-only."""
    with transaction.atomic():
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.submitted_at is None:
            locked.submitted_at = timezone.now()
            locked.save(update_fields=["submitted_at"])
    return locked
