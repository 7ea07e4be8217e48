"""A participant's way through a study, written once: every participant page asks it where they stand.

The way: the background form (when the study has one), the instructions, their cohort's training
phase (when it has one), the cases in their own order, the final submission, and the read-only
page after it. The reading window (``StudyConfig.opens_at``/``closes_at``) says when anything may
be saved: outside it pages still show, and say why nothing is taken (answers, practice answers,
background answers, a new account through an invitation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone

from annotator.assistance import assistance_of, crossover_arm, ensure_sequence_group, second_session_opens
from annotator.models import Answer, Arm, Assistance, Case, Participant, StudyConfig, Suggestion, config_of
from annotator.moments import moment_text

# Hotkeys of the classes in order: digits first, then letters. "f" toggles full resolution and
# +, -, the arrows, "[" and "]" zoom, pan and move between cases, so no class uses them.
HOTKEYS = tuple("1234567890abcdeghijklmnopqrstuvwxyz")

# The class buttons stand in rows of at most this many, so the page can set aside their height.
CLASSES_PER_ROW = 7


@dataclass(frozen=True)
class ClassChoice:
    index: int
    name: str
    hotkey: str
    description: str


def class_choices(participant: Participant) -> list[ClassChoice]:
    config = config_of(participant.study)
    label_set = participant.study.label_set
    if len(label_set) > len(HOTKEYS):
        raise ValueError(f"a label set of {len(label_set)} classes has more classes than hotkeys ({len(HOTKEYS)})")
    return [
        ClassChoice(c.index, c.name, HOTKEYS[c.index], config.description_of(c.index)) for c in label_set.classes
    ]


def readings_by_number(participant: Participant, cases: list[Case], session: int = 1) -> dict[int, dict[str, Answer]]:
    """The participant's answers by case number and arm (a session's, in a crossover study): each
    reading of a repeated case is its own case."""
    by_reading: dict[tuple[int, int], dict[str, Answer]] = {}
    for answer in Answer.readings.filter(participant=participant, session=session):
        by_reading.setdefault((answer.item_id, answer.repeat), {})[answer.arm] = answer
    return {case.number: by_reading[key] for case in cases if (key := (case.item.pk, case.repeat)) in by_reading}


def answers_by_number(participant: Participant, cases: list[Case], session: int = 1) -> dict[int, Answer]:
    """The answer that finishes each case, by case number (a sequential study's is the aided one): a
    case without it is not answered yet."""
    final = final_arm(assistance_of(participant.study))
    finished = {}
    for number, readings in readings_by_number(participant, cases, session).items():
        answer = next(iter(readings.values())) if final == ANY_ARM else readings.get(final)
        if answer is not None:
            finished[number] = answer
    return finished


ANY_ARM = "any"


def final_arm(assistance: Assistance) -> str:
    """The arm of the answer that finishes a case: aided in a sequential study, the case's own in a
    crossover session (any), unaided otherwise."""
    if assistance.sequential:
        return Arm.AIDED
    if assistance.crossover:
        return ANY_ARM
    return Arm.UNAIDED


@dataclass(frozen=True)
class CaseReading:
    """What one case page asks for: the arm its answer is given in, the suggestion it shows (if any),
    the answer alone it shows locked (a sequential study's, once given), and the answer its buttons
    show as chosen."""

    arm: str
    suggestion: Suggestion | None
    alone: Answer | None
    current: Answer | None


def case_reading(assistance: Assistance, case: Case, readings: dict[str, Answer], arm: str = Arm.UNAIDED) -> CaseReading:
    """The reading a case page is at, from the case's answers so far (``readings_by_number``); ``arm``
    is the case's own arm in a crossover session."""
    if assistance.sequential:
        alone = readings.get(Arm.UNAIDED)
        if alone is None:
            return CaseReading(Arm.UNAIDED, None, None, None)
        return CaseReading(Arm.AIDED, case.item.suggestion, alone, readings.get(Arm.AIDED))
    if assistance.crossover and arm == Arm.AIDED:
        return CaseReading(Arm.AIDED, case.item.suggestion, None, readings.get(Arm.AIDED))
    return CaseReading(Arm.UNAIDED, None, None, readings.get(Arm.UNAIDED))


def first_unanswered(cases: list[Case], answered: dict[int, Answer]) -> int | None:
    return next((number for number in range(1, len(cases) + 1) if number not in answered), None)


def study_url(name: str, participant: Participant, *args) -> str:
    return reverse(f"annotator:{name}", args=[participant.study.name, *args])


def case_url(participant: Participant, number: int) -> str:
    return study_url("participant_case", participant, number)


def queue_key(participant: Participant) -> str:
    """The localStorage key under which the browser keeps answers it has not saved yet."""
    return f"pending-answers:{participant.study.name}:{participant.user.get_username()}"


def window_refusal_text(config: StudyConfig, state: str) -> str:
    """Why nothing can be saved now, in the words of every participant page; empty inside the window."""
    if state == "closed":
        return f"The study closed at {moment_text(config.closes_at)}; nothing more can be saved."
    if state == "not_open":
        return f"The study opens at {moment_text(config.opens_at)}; answers can be saved from then on."
    return ""


@dataclass(frozen=True)
class Standing:
    """Where a participant stands in their study, read once per request."""

    participant: Participant
    config: StudyConfig
    window_state: str  # StudyConfig.window_state: "not_open", "open" or "closed"
    assistance: Assistance

    @classmethod
    def of(cls, participant: Participant) -> Standing:
        config = config_of(participant.study)
        return cls(participant, config, config.window_state(timezone.now()), assistance_of(participant.study))

    @property
    def session(self) -> int:
        """The session they read now: a crossover study's second once they submitted the first."""
        return self.participant.current_session if self.assistance.crossover else 1

    @property
    def second_session_opens_at(self) -> datetime | None:
        return second_session_opens(self.assistance, self.participant) if self.assistance.crossover else None

    @property
    def between_sessions(self) -> bool:
        """Whether a crossover reader has submitted their first session and waits out the wash-out."""
        opens = self.second_session_opens_at
        return opens is not None and not self.submitted and timezone.now() < opens

    def case_arm(self, number: int) -> str:
        """The arm case ``number`` of their session is read in (a crossover study's blocks alternate)."""
        if not self.assistance.crossover:
            return Arm.UNAIDED
        first_number = number
        if self.session == 2:
            n_items = self.participant.study.items.count()
            first = self.participant.case_plan(n_items, 1)
            first_number = first.index(self.participant.case_plan(n_items, 2)[number - 1]) + 1
        return crossover_arm(self.assistance, ensure_sequence_group(self.participant), first_number, self.session)

    @property
    def study(self) -> str:
        return self.participant.study.name

    @property
    def submitted(self) -> bool:
        return self.participant.is_submitted

    @property
    def closed(self) -> bool:
        return self.window_state == "closed"

    @property
    def takes_preparation(self) -> bool:
        """Whether background answers and practice answers are taken now: until the study closes,
        and never after the final submission."""
        return not self.submitted and not self.closed

    def step_before_cases(self) -> str | None:
        """The page the participant has to go through before the study's cases (the background form,
        then their cohort's training phase), or None when the cases are open to them."""
        if self.participant.background_pending:
            return study_url("participant_background", self.participant)
        if self.participant.training_pending:
            return study_url("participant_training", self.participant)
        return None

    def continue_url(self) -> str:
        """Where the participant carries on: after the submission, their read-only answers; before the
        cases, the background form, their first look at the instructions, the training; then the
        first unanswered case, or the submission page once every case is answered."""
        if self.submitted or self.between_sessions:
            return study_url("participant_done", self.participant)
        if self.participant.background_pending:
            return study_url("participant_background", self.participant)
        cases = self.participant.cases(self.session)
        answered = answers_by_number(self.participant, cases, self.session)
        if not answered and not self.participant.instructions_seen.exists():
            return study_url("participant_instructions", self.participant)
        if self.participant.training_pending:
            return study_url("participant_training", self.participant)
        number = first_unanswered(cases, answered)
        if number is None:
            return study_url("participant_submit", self.participant)
        return case_url(self.participant, number)

    def refusal_text(self) -> str:
        """Why nothing the participant sends is saved now, or "" when it is."""
        if self.between_sessions:
            return f"Your second session opens at {moment_text(self.second_session_opens_at)}."
        if self.submitted:
            return "You have submitted your answers; the study is read-only for you."
        return window_refusal_text(self.config, self.window_state)

    def context(self) -> dict:
        """What every participant page says about the reading window."""
        config = self.config
        return {
            "window_state": self.window_state,
            "opens_at": config.opens_at,
            "closes_at": config.closes_at,
            "opens_text": moment_text(config.opens_at) if config.opens_at else "",
            "closes_text": moment_text(config.closes_at) if config.closes_at else "",
        }
