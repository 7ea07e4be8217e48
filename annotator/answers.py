"""Storing a participant's answer exactly once, whatever double clicks, retries or a second tab do.

One ``Answer`` per participant and sample is a database constraint; a save runs in a transaction
that first locks the participant's row (``select_for_update``), so a participant's saves and their
final submission happen one after the other. Where two writers still collide (a unique-constraint
race, or SQLite answering "database is locked" instead of waiting when a reading transaction wants
to write), the whole transaction is rolled back and tried again after a short random pause.

What the browser reports is bounded by what the server saw (``CaseOpening``, when the case page
was first served to the participant): an answer's active time never exceeds the time since then,
a participant's active time never counts the same seconds twice (``Participant.active_until``),
and an answer given while the browser was offline keeps the time it was given
(``answered_seconds_ago``, measured by the browser's own clock, so that a wrong clock does not
matter) no earlier than that opening, no later than now, and never before the answer's previous
value. An answer the study no longer lets change gains no time either.

Outside the study's reading window (``StudyConfig.opens_at``/``closes_at``) every save is refused with
423 and the window's times (``AnswerRejected.details``): the browser keeps such an answer queued, so
that it is sent if the coordinator extends the window; nothing saved before is touched.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, OperationalError
from django.utils import timezone

from annotator.assistance import assistance_of, final_readings
from annotator.contention import atomic_with_retries
from annotator.models import Answer, AnswerHistory, Arm, CaseOpening, Participant, Suggestion, config_of
from annotator.moments import moment_text
from study.models import StudySample

# One request never adds more active time than this: a tab left open over a weekend is not work.
MAX_ACTIVE_SECONDS_PER_SAVE = 3600.0
# What a browser may report at all; a value beyond is refused (400) rather than trimmed, because no
# page of this site sends it. The page's script caps its own count at the same day.
MOST_ACTIVE_SECONDS_REPORTED = 86_400.0
# An answer kept in a browser's queue for more than a year belongs to no reading window.
MOST_SECONDS_AGO = 366 * 86_400.0
BODY_HINT = 'Send a JSON object {"class_index": k, "active_seconds": s, "answered_seconds_ago": a}.'


class AnswerRejected(Exception):
    """A save the server refuses; ``status`` is the HTTP status that says why (400, 409, or 423
    outside the reading window); ``details`` are further fields for the JSON reply."""

    def __init__(self, message: str, status: int, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.details = details or {}


def window_refusal(config, now: datetime) -> AnswerRejected | None:
    """Why no answer may be saved now (``AnswerRejected`` with status 423), or None inside the window."""
    state = config.window_state(now)
    if state == "closed":
        return AnswerRejected(
            f"The study closed at {moment_text(config.closes_at)}; answers can no longer be saved. Your "
            "answer is kept in this browser: the study's coordinator can extend the reading window.",
            423,
            {"window": "closed", "closed_at": config.closes_at.isoformat()},
        )
    if state == "not_open":
        return AnswerRejected(
            f"The study opens at {moment_text(config.opens_at)}; answers can be saved from then on.",
            423,
            {"window": "not_open", "opens_at": config.opens_at.isoformat()},
        )
    return None


@dataclass(frozen=True)
class SavedAnswer:
    answer: Answer
    changed: bool  # whether this save stored a new value (False for a repeat of the current one)
    answered: int  # how many of the study's samples the participant has answered
    total: int


def shown(value) -> str:
    """A value a browser sent, as an error message quotes it: at most 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def parse_class_index(value, class_count: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnswerRejected(f"class_index: expected a whole number, got {shown(value)}", 400)
    if not 0 <= value < class_count:
        raise AnswerRejected(f"class_index: {shown(value)} is not a class of this study (0-{class_count - 1})", 400)
    return value


def parse_seconds(name: str, value, most: float) -> float:
    """A number of seconds from 0 to ``most``; anything else (a string, NaN, a negative or larger
    number, an integer too large for a float) is refused with 400 and the field's name."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= most:
        raise AnswerRejected(f"{name}: expected a number of seconds from 0 to {most:,.0f}, got {shown(value)}", 400)
    return float(value)


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON text, counted without parsing it: a parser recurses
    once per level and would run out of stack on a few thousand brackets."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


def parse_body(body: bytes) -> dict:
    """The fields of an answer request: a flat JSON object with ``class_index``."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AnswerRejected(f"The request body is not UTF-8 text: {error}", 400) from None
    if nesting_depth(text) > 1:
        raise AnswerRejected(f"The request body nests arrays or objects. {BODY_HINT}", 400)
    try:
        fields = json.loads(text or "null")
    except json.JSONDecodeError as error:
        raise AnswerRejected(f"The request body is not JSON: {error}", 400) from None
    if not isinstance(fields, dict) or "class_index" not in fields:
        raise AnswerRejected(BODY_HINT, 400)
    return fields


def save_answer(
    participant: Participant,
    item: StudySample,
    class_index,
    active_seconds=None,
    answered_seconds_ago=None,
    repeat: int = 0,
    arm: str = Arm.UNAIDED,
    session: int = 1,
) -> SavedAnswer:
    """Store ``class_index`` as the participant's answer for ``item`` (its ``repeat``-th reading:
    0 the first, 1 the second reading of a repeated case; each keeps its own time and history), in
    ``arm``: alone (unaided) or with the machine's suggestion (aided), in ``session`` (a crossover's).

    In a sequential study the answer alone is locked once the suggestion has been shown (a change is
    refused with 409, saying why), and an aided answer needs the answer alone first and the suggestion
    shown (409 otherwise); an aided answer keeps the suggestion, when it was shown, and the seconds
    before and after it.

    ``active_seconds`` is the time worked on the case since the last save, ``answered_seconds_ago``
    how long ago the answer was given (for one sent late); both are bounded as the module says.
    Saving the current value again adds the active time but is no change: no history row, the same
    ``changes`` count. Raises ``AnswerRejected`` for a value outside the label set (400), after the
    final submission, or for a change when the study does not allow changes (409), and outside the
    study's reading window (423).
    """
    if item.study_id != participant.study_id:
        raise AnswerRejected("The sample is not part of this participant's study.", 400)
    if repeat not in (0, 1):
        raise AnswerRejected(f"repeat: expected 0 or 1, got {repeat!r}", 400)
    if arm not in Arm.values:
        raise AnswerRejected(f"arm: expected unaided or aided, got {shown(arm)}", 400)
    class_index = parse_class_index(class_index, len(participant.study.label_set))
    claimed = min(parse_seconds("active_seconds", active_seconds, MOST_ACTIVE_SECONDS_REPORTED), MAX_ACTIVE_SECONDS_PER_SAVE)
    ago = parse_seconds("answered_seconds_ago", answered_seconds_ago, MOST_SECONDS_AGO)
    reading = Reading(item, repeat, arm, session)
    return atomic_with_retries(
        lambda: _save_locked(participant.pk, reading, class_index, claimed, ago),
        retry_on=(IntegrityError, OperationalError),
    )


@dataclass(frozen=True)
class Reading:
    """One reading of a case: its sample, which reading (a repeated case's second is 1), alone or aided,
    and the session (a crossover study's)."""

    item: StudySample
    repeat: int
    arm: str
    session: int

    def filter(self) -> dict:
        return {"item": self.item, "repeat": self.repeat, "arm": self.arm}


def _save_locked(participant_pk: int, reading: Reading, class_index: int, claimed: float, ago: float) -> SavedAnswer:
    participant = Participant.objects.select_for_update().select_related("study__dataset").get(pk=participant_pk)
    if participant.is_submitted:
        raise AnswerRejected("The study is submitted; answers can no longer change.", 409)
    config = config_of(participant.study)
    assistance = assistance_of(participant.study)
    item, repeat = reading.item, reading.repeat
    answer = Answer.readings.select_for_update().filter(participant=participant, **reading.filter()).first()
    opening = CaseOpening.objects.filter(participant=participant, **reading.filter()).first()
    aided = _aided_fields(assistance, participant, reading, opening)
    # Taken once the answer is read (and locked), so that the history's times follow the order in
    # which the values were stored; the window is judged at the same moment.
    now = timezone.now()
    refusal = window_refusal(config, now)
    if refusal is not None:
        raise refusal
    answered_at = _answered_at(now, ago, opening, answer)
    seconds = min(claimed, _room(answered_at, opening, answer), _participant_room(answered_at, participant))
    if seconds > 0:
        participant.active_until = answered_at
        participant.save(update_fields=["active_until"])
    if answer is None:
        answer = Answer.readings.create(
            participant=participant,
            item=item,
            repeat=repeat,
            arm=reading.arm,
            session=reading.session,
            class_index=class_index,
            answered_at=answered_at,
            active_seconds=seconds,
            display_percentiles=config.display_percentiles,
            **aided.fields(answered_at),
        )
        changed = True
    elif answer.class_index == class_index:
        if config.answers_changeable and not aided.locks_the_answer_alone:
            answer.active_seconds += seconds
            answer.save(update_fields=["active_seconds"])
        changed = False
    elif not config.answers_changeable:
        raise AnswerRejected("This study does not allow changing an answer once given.", 409)
    elif aided.locks_the_answer_alone:
        raise AnswerRejected(
            "Your answer alone is locked: the suggestion has been shown for this case. Give your final answer "
            "with the suggestion instead.",
            409,
        )
    else:
        answer.class_index = class_index
        answer.answered_at = answered_at
        answer.active_seconds += seconds
        answer.changes += 1
        answer.display_percentiles = config.display_percentiles
        for field, value in aided.fields(answered_at).items():
            setattr(answer, field, value)
        answer.save(
            update_fields=["class_index", "answered_at", "active_seconds", "changes", "display_percentiles", *aided.fields(answered_at)]
        )
        changed = True
    if changed:
        # The history keeps the active time spent on the case up to each value.
        AnswerHistory.objects.create(
            answer=answer, class_index=class_index, answered_at=answered_at, active_seconds=answer.active_seconds
        )
    return SavedAnswer(
        answer=answer,
        changed=changed,
        answered=Answer.readings.filter(final_readings(assistance, reading.session), participant=participant).count(),
        total=participant.case_count(),
    )


@dataclass(frozen=True)
class AidedFields:
    """What an answer keeps of the suggestion it was given beside (nothing for an unaided one), and
    whether the reading is a sequential study's answer alone after its suggestion was shown."""

    suggestion: Suggestion | None = None
    shown_at: datetime | None = None
    alone_opened_at: datetime | None = None
    locks_the_answer_alone: bool = False

    def fields(self, answered_at: datetime) -> dict:
        if self.suggestion is None:
            return {}
        return {
            "suggested_class": self.suggestion.class_index,
            "suggestion_probability": self.suggestion.probability,
            "suggestion_source": self.suggestion.source,
            "suggestion_shown_at": self.shown_at,
            "seconds_before_suggestion": (
                (self.shown_at - self.alone_opened_at).total_seconds() if self.alone_opened_at else None
            ),
            "seconds_after_suggestion": max(0.0, (answered_at - self.shown_at).total_seconds()),
        }


def _aided_fields(assistance, participant: Participant, reading: Reading, opening: CaseOpening | None) -> AidedFields:
    """The checks of the assisted arm, and what an aided answer keeps (``AidedFields``)."""
    alone = {"participant": participant, "item": reading.item, "repeat": reading.repeat, "arm": Arm.UNAIDED}
    if reading.arm == Arm.UNAIDED:
        shown = assistance.sequential and CaseOpening.objects.filter(**{**alone, "arm": Arm.AIDED}).exists()
        return AidedFields(locks_the_answer_alone=shown)
    if not assistance.assisted:
        raise AnswerRejected("arm: this study shows no suggestions; every answer is unaided.", 400)
    if assistance.sequential and not Answer.readings.filter(**alone).exists():
        raise AnswerRejected("Answer the case alone first; the suggestion appears after that answer.", 409)
    if opening is None:
        raise AnswerRejected("The suggestion has not been shown for this case yet; reload the page.", 409)
    alone_opening = CaseOpening.objects.filter(**alone).first() if assistance.sequential else None
    return AidedFields(
        suggestion=Suggestion.objects.get(item=reading.item),
        shown_at=opening.opened_at,
        alone_opened_at=alone_opening.opened_at if alone_opening else None,
    )


def _room(answered_at: datetime, opening: CaseOpening | None, answer: Answer | None) -> float:
    """What the case's active time may still grow by: the time from its first opening to the
    answer, less the time it has already."""
    if opening is None:
        return 0.0
    spent = answer.active_seconds if answer else 0.0
    return max(0.0, (answered_at - opening.opened_at).total_seconds() - spent)


def _participant_room(answered_at: datetime, participant: Participant) -> float:
    """What the participant's active time may still grow by: the time since the last moment already
    counted, so that answers given side by side (two tabs, a burst of saves) never count the same
    seconds twice and a participant's total never exceeds the time that went by."""
    if participant.active_until is None:
        return math.inf
    return max(0.0, (answered_at - participant.active_until).total_seconds())


def _answered_at(now: datetime, ago: float, opening: CaseOpening | None, answer: Answer | None) -> datetime:
    """When the answer was given: ``ago`` seconds before now, but not before the case was first
    served nor before the answer's current value; now for a case never served."""
    if opening is None:
        return now
    earliest = max(opening.opened_at, answer.answered_at) if answer else opening.opened_at
    return min(now, max(earliest, now - timedelta(seconds=ago)))


def submit_first_session(participant: Participant) -> Participant:
    """A crossover reader's first session is submitted: its answers are read-only from now on, and the
    second session opens after the wash-out (``annotator.assistance.second_session_opens``)."""

    def mark_submitted() -> Participant:
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.first_session_submitted_at is None:
            locked.first_session_submitted_at = timezone.now()
            locked.save(update_fields=["first_session_submitted_at"])
        return locked

    return atomic_with_retries(mark_submitted)


def submit(participant: Participant) -> Participant:
    """The final submission: from now on the participant's answers are read-only. Many participants
    submitting at once all get in (``atomic_with_retries``)."""

    def mark_submitted() -> Participant:
        locked = Participant.objects.select_for_update().get(pk=participant.pk)
        if locked.submitted_at is None:
            locked.submitted_at = timezone.now()
            locked.save(update_fields=["submitted_at"])
        return locked

    return atomic_with_retries(mark_submitted)
