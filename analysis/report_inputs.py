"""What a report is computed from: a study's answers, its models' predictions and its data set's test
split as arrays in the study's sample order (``StudyAnswers``), how the report is asked for
(``ReportOptions``) and what its cases' panels are drawn from (``CasePanels``), together
``ReportInputs``; and the errors that say a study cannot be reported.

``analysis.study_arrays`` fills these from the database; tests and benchmarks build them directly.
``ReportInputs.digest`` hashes every field they declare, so that whatever is added here is part of the
analyst page's cache key without being listed again. Nothing here touches Django.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np

from analysis.ensembles import DEFAULT_REPETITIONS
from analysis.reader_arrays import NO_ANSWER


class ReportError(ValueError):
    """The study cannot be reported as asked; the message says why and what to do."""


class MissingAnswersError(ReportError):
    """Some readers left samples unanswered and ``allow_missing`` was not given."""

    def __init__(self, missing: dict[str, int], n_samples: int):
        self.missing = missing
        self.n_samples = n_samples
        listing = ", ".join(f"{name}: {count}" for name, count in missing.items())
        super().__init__(
            f"{len(missing)} reader(s) have not answered every one of the {n_samples} samples "
            f"(unanswered per reader: {listing}). Wait for the answers, or compute on the answers "
            "there are with --allow-missing."
        )


@dataclass(frozen=True)
class Person:
    """A human reader, known by pseudonym only."""

    pseudonym: str
    cohort: str
    simulated: bool


@dataclass(frozen=True, eq=False)
class ModelAnswers:
    """A model run as a reader of the study: its top class per study sample (-1 where it has none)."""

    name: str
    kind: str
    answers: np.ndarray


@dataclass(frozen=True, eq=False)
class TestSplitRun:
    """A run's predictions on the whole test split: thresholded classes, and probabilities if it has them."""

    name: str
    predicted: np.ndarray
    probabilities: np.ndarray | None


@dataclass(frozen=True, eq=False)
class TestSplit:
    """Multi-label truth ``(n_samples, n_classes)`` of the data set's test split and the runs that cover it;
    ``incomplete`` maps each run that predicted only part of it to the number of samples it covers."""

    truth: np.ndarray
    runs: tuple[TestSplitRun, ...]
    incomplete: dict[str, int]


@dataclass(frozen=True)
class ClassLookup:
    """A reader's visits to the gallery page of one class: how many examples they opened there and
    when first (ISO 8601, UTC), whether before or after any answer."""

    pseudonym: str
    class_index: int
    first_viewed_at: str
    n_views: int


@dataclass(frozen=True, eq=False)
class Repeats:
    """The study's repeated cases as read twice: ``columns`` are the study sample columns of the cases
    some reader answered both times, ``first`` and ``second`` ``(n_people, n_columns)`` the class given
    at each reading (-1 where that reader did not answer the case both times); ``n_configured`` how
    many cases the study shows twice."""

    n_configured: int
    columns: np.ndarray
    first: np.ndarray
    second: np.ndarray


@dataclass(frozen=True)
class InstructionsRecord:
    """A version of the instructions a reader was shown (its SHA-256 ``digest``), first when (ISO 8601, UTC)."""

    pseudonym: str
    digest: str
    first_seen_at: str


SEQUENTIAL, CROSSOVER = "sequential", "crossover"


@dataclass(frozen=True, eq=False)
class AssistedArm:
    """The aided readings of an assisted study, ``(n_people, n_samples)`` in the rows and columns of
    ``StudyAnswers.answers``, whose first unaided readings are the arm's unaided answers.

    - ``design``: ``sequential`` (the answer alone, locked, then the suggestion and the final answer) or
      ``crossover`` (two sessions, case blocks alternating aided and unaided); ``source``: the model run
      whose predictions were the suggestions;
    - ``aided``: the final answer given beside the suggestion, -1 where there is none;
    - ``suggestion``: the class shown with that answer, -1 where none; ``controlled``: whether it was a
      chosen wrong class (an automation-bias control) rather than the model's own;
    - ``aided_seconds``: the active seconds of the aided reading; ``seconds_after_suggestion``: from the
      suggestion to the final answer, on the server's clock (sequential); NaN where untimed;
    - ``unaided_session`` and ``aided_session``: the session (1 or 2) of each reading of a crossover,
      0 where there is none; ``sequence_groups``: each person's sequence group (None: never given one).
    """

    design: str
    source: str
    aided: np.ndarray
    suggestion: np.ndarray
    controlled: np.ndarray
    aided_seconds: np.ndarray
    seconds_after_suggestion: np.ndarray
    unaided_session: np.ndarray
    aided_session: np.ndarray
    sequence_groups: tuple[int | None, ...]

    @property
    def crossover(self) -> bool:
        return self.design == CROSSOVER


@dataclass(frozen=True, eq=False)
class StudyAnswers:
    """Everything the report needs, as arrays in the study's sample order.

    ``answers`` is ``(n_people, n_samples)`` with -1 for a missing answer; ``truth`` the single class of
    each study sample; ``models`` in the order asked for (the first is "the model"). The first readings
    only: a repeated case's second reading is in ``repeats``.

    What the report's sections on the readers need, each optional (None or empty: the section says
    there is nothing to show):

    - ``seconds``: ``(n_people, n_samples)`` active seconds on each answered case, NaN where unanswered
      or untimed (an answer with no active time, as an imported one without it);
    - ``looked_up``: ``(n_people, n_samples)``, whether the reader had opened the gallery page of the
      sample's true class before their answer to it; ``gallery``: each reader's looks per class;
    - ``repeats``: the second readings of the repeated cases (``Repeats``);
    - ``covariate_keys``, ``covariate_labels`` and ``covariates``: the questions of the study's
      background form (their keys, and the words each was asked in) and each reader's answers to them
      ({pseudonym: {key: value or None}});
    - ``instructions``: every version of the instructions each reader was shown, and
      ``instructions_texts`` the text of each version by digest;
    - ``assisted``: the aided readings of a study read with the machine's suggestion (``AssistedArm``),
      None for a study read unaided.
    """

    study: str
    dataset: str
    class_names: tuple[str, ...]
    sample_ids: tuple[str, ...]
    positions: np.ndarray
    truth: np.ndarray
    people: tuple[Person, ...]
    answers: np.ndarray
    models: tuple[ModelAnswers, ...]
    test_split: TestSplit | None = None
    seconds: np.ndarray | None = None
    looked_up: np.ndarray | None = None
    gallery: tuple[ClassLookup, ...] = ()
    repeats: Repeats | None = None
    covariate_keys: tuple[str, ...] = ()
    covariate_labels: dict[str, str] = field(default_factory=dict)
    covariates: dict[str, dict[str, object]] = field(default_factory=dict)
    instructions: tuple[InstructionsRecord, ...] = ()
    instructions_texts: dict[str, str] = field(default_factory=dict)
    assisted: AssistedArm | None = None

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_samples(self) -> int:
        return int(self.truth.size)

    def missing_answers(self) -> dict[str, int]:
        """Unanswered study samples per reader (people and models) that has any."""
        missing = {}
        for person, row in zip(self.people, self.answers):
            missing[person.pseudonym] = int(np.sum(row == NO_ANSWER))
        for model in self.models:
            missing[model.name] = int(np.sum(model.answers == NO_ANSWER))
        return {name: count for name, count in missing.items() if count}


DEFAULT_SEED = 0


@dataclass(frozen=True)
class ReportOptions:
    """How a report is asked for: the seed of tie-breaking and bootstrap, the repetitions per ensemble,
    the model runs by name (the first is "the model"; none: every run that predicted the whole study),
    whether to compute on the answers there are when some are missing, and the non-inferiority margin
    of the model against the readers (none: no non-inferiority test)."""

    seed: int = DEFAULT_SEED
    repetitions: int = DEFAULT_REPETITIONS
    models: tuple[str, ...] = ()
    allow_missing: bool = False
    margin: float | None = None


@dataclass(frozen=True)
class CasePanels:
    """What the cases' four panels are drawn from: each study sample's key in the sample store (by
    sample id) and the study's display contrast, per channel the low and high percentiles."""

    store_keys: dict[str, str] = field(default_factory=dict)
    display_percentiles: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class ReportInputs:
    """Everything a report is made from: the study as arrays, the options, the cases' panels and the
    ``preface``, a paragraph the report opens with (where its data come from, say)."""

    answers: StudyAnswers
    options: ReportOptions = field(default_factory=ReportOptions)
    panels: CasePanels = field(default_factory=CasePanels)
    preface: str = ""

    def digest(self) -> str:
        """SHA-256 of every value these inputs hold: equal inputs, equal digests."""
        hasher = hashlib.sha256()
        _feed(hasher, self)
        return hasher.hexdigest()


def _feed(hasher, value: Any) -> None:
    """Add ``value`` to ``hasher`` unambiguously: each part carries its type and size, so that no two
    different values write the same bytes."""
    if is_dataclass(value):
        hasher.update(f"<{type(value).__name__}>".encode())
        for item in fields(value):
            hasher.update(item.name.encode())
            _feed(hasher, getattr(value, item.name))
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        hasher.update(f"<array {array.dtype.str} {array.shape}>".encode())
        hasher.update(array.tobytes())
    elif isinstance(value, dict):
        hasher.update(f"<dict {len(value)}>".encode())
        for key in sorted(value, key=repr):
            _feed(hasher, key)
            _feed(hasher, value[key])
    elif isinstance(value, (list, tuple)):
        hasher.update(f"<list {len(value)}>".encode())
        for item in value:
            _feed(hasher, item)
    else:
        text = repr(value)
        hasher.update(f"<{type(value).__name__} {len(text)}>{text}".encode())
