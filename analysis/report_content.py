"""What a report holds: the rows of the paper's Tables 1, 2, 3 and 7, Figure 4's confusion matrices and
the appendix's cases, each model against the population of readers of each cohort (multi-reader
multi-case), the agreement between readers, the readers with their background, and the biases the
paper worried about (anchoring on the gallery, test-retest consistency, reading time; the instructions
each reader saw), the assisted arm of a study read with the machine's suggestion, as named values, and
the report's JSON form (``report.json``).

``analysis.report`` computes them; ``analysis.report_tables`` lays them out as CSV and page tables from
the JSON document (``Report.to_dict``), which names every value as the files do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Generic, TypeVar

import numpy as np

INFORMATION, WARNING, ERROR = "information", "warning", "error"
NOTE_KINDS = (INFORMATION, WARNING, ERROR)


@dataclass(frozen=True)
class Note:
    """Something the reader of a report should know besides its figures: ``information`` (how a part
    was computed), a ``warning`` (something left out, such as a reader without answers) or an
    ``error`` (a part that could not be made)."""

    kind: str
    text: str

    def __post_init__(self):
        if self.kind not in NOTE_KINDS:
            raise ValueError(f"kind: expected one of {NOTE_KINDS}, got {self.kind!r}")


T = TypeVar("T")


@dataclass(frozen=True)
class Part(Generic[T]):
    """A part of a report as it is computed, and the notes it makes for the whole report."""

    value: T
    notes: tuple[Note, ...] = ()


def _json_name(name: str) -> dict[str, str]:
    """A field whose key in ``report.json`` differs from its Python name (``class`` is a keyword)."""
    return {"json": name}


@dataclass(frozen=True, kw_only=True)
class Table2Row:
    """A row of the paper's Table 2, with percentile-bootstrap confidence intervals over samples: of a
    single reader's figures, of an ensemble's (tie-breaking inside each resample) and of a cohort's
    mean over its readers (none for a cohort too large to resample, see the report's notes)."""

    reader: str
    cohort: str
    simulated: bool | None
    kind: str
    accuracy: float
    f1: float
    precision: float
    recall: float
    accuracy_ci_low: float | None = None
    accuracy_ci_high: float | None = None
    f1_ci_low: float | None = None
    f1_ci_high: float | None = None
    n_answered: int
    n_readers: int


@dataclass(frozen=True)
class Table3Row:
    """A reader (``kind``: another ``model``, a ``reader`` or an ``ensemble``) against the model. An
    ensemble's cells are means over its tie-breaking repetitions and its p-values the medians of the
    repetitions' tests."""

    reader: str
    cohort: str
    simulated: bool | None
    kind: str
    both_correct: float
    model_only: float
    reader_only: float
    both_wrong: float
    statistic: float
    p_value: float
    p_value_exact: float


@dataclass(frozen=True, eq=False)
class Confusion:
    """A reader's confusion matrix (the paper's Figure 4): rows the true class, columns the answer, and
    per true class the samples the reader left unanswered."""

    reader: str
    cohort: str
    counts: np.ndarray
    unanswered: np.ndarray

    @property
    def row_normalized(self) -> np.ndarray:
        """Each row divided by its class's samples, the unanswered ones included (NaN for a class
        without samples), as the figure shows it."""
        totals = self.counts.sum(axis=1) + self.unanswered
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(totals[:, np.newaxis] > 0, self.counts / totals[:, np.newaxis], np.nan)


@dataclass(frozen=True, eq=False)
class Confusions:
    """Figure 4: the confusion matrix of every reader at once, ``counts`` ``(n_readers, n_classes,
    n_classes)`` and ``unanswered`` ``(n_readers, n_classes)``; each reader's is ``self[i]``."""

    readers: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()
    counts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=np.int64))
    unanswered: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    def __len__(self) -> int:
        return len(self.readers)

    def __getitem__(self, index: int) -> Confusion:
        return Confusion(self.readers[index], self.cohorts[index], self.counts[index], self.unanswered[index])

    def __iter__(self):
        return (self[index] for index in range(len(self)))

    def to_json(self) -> list[dict[str, Any]]:
        # One conversion of each array for all readers: per reader, it would dominate a large report.
        return [
            {"reader": reader, "cohort": cohort, "counts": counts, "unanswered": unanswered}
            for reader, cohort, counts, unanswered in zip(
                self.readers, self.cohorts, self.counts.tolist(), self.unanswered.tolist()
            )
        ]


@dataclass(frozen=True)
class Table1Row:
    """A run on the whole test split (the paper's Table 1); ``p_value`` is the Wilcoxon test of the best
    run against this one (None for the best), AUC only for runs with probabilities."""

    model: str
    f1: float
    f1_std: float
    p_value: float | None
    precision: float
    recall: float
    auc: float | None
    auc_std: float | None
    n_samples: int


@dataclass(frozen=True, eq=False)
class Table7:
    """Per-class F1 of every run on the test split, ``per_class_f1[model]`` in class order."""

    class_names: tuple[str, ...]
    per_class_f1: dict[str, np.ndarray]


@dataclass(frozen=True)
class Case:
    """A study sample the experts all got wrong: also the model (``both_wrong``) or not (``model_only``)."""

    kind: str
    position: int
    sample_id: str
    truth: str
    model_answer: str
    expert_answers: dict[str, str]


@dataclass(frozen=True)
class MRMCRow:
    """A model against the population of readers of a cohort (``analysis.mrmc``, ORH), one figure of
    merit (``accuracy`` or ``f1``, macro F1) and one variant (``random_readers_random_cases`` or
    ``fixed_readers_random_cases``).

    ``effect`` = ``model_fom`` − ``mean_reader_fom`` with its standard error ``se``, ``df`` (infinite
    for fixed readers: the normal reference) and two-sided ``p_value``; ``n_cases`` are the samples
    analysed, after leaving out the ``n_cases_dropped`` that the model or some reader of the cohort did
    not answer. ``p_noninferiority`` is the one-sided test of effect ≤ −margin, when a margin was
    given. ``summary`` says the result in words.
    """

    model: str
    cohort: str
    simulated: bool
    fom: str
    variant: str
    n_readers: int
    n_cases: int
    n_cases_dropped: int
    model_fom: float
    mean_reader_fom: float
    effect: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    level: float
    p_value: float
    p_noninferiority: float | None
    summary: str


@dataclass(frozen=True)
class FleissRow:
    """Fleiss' kappa of a cohort of two or more readers, on the ``n_samples`` every one of them answered."""

    cohort: str
    simulated: bool
    kappa: float
    n_readers: int
    n_samples: int
    n_excluded: int


@dataclass(frozen=True)
class CohenRow:
    """Cohen's kappa of two readers (people or models), on the ``n_samples`` both answered."""

    reader_a: str
    cohort_a: str
    simulated_a: bool
    reader_b: str
    cohort_b: str
    simulated_b: bool
    kappa: float
    n_samples: int


@dataclass(frozen=True)
class ClassAccuracyRow:
    """The accuracy on one true class of a cohort (its readers' answers pooled; ``reader`` empty) or of
    a model (cohort ``model``); ``n_samples`` the study's samples of the class."""

    cohort: str
    reader: str
    simulated: bool | None
    class_name: str = field(metadata=_json_name("class"))
    accuracy: float
    n_samples: int


@dataclass(frozen=True)
class Agreement:
    """The agreement section: Fleiss' kappa per cohort, pairwise Cohen's kappa, per-class accuracy."""

    fleiss: tuple[FleissRow, ...] = field(default=(), metadata=_json_name("fleiss_kappa"))
    cohen: tuple[CohenRow, ...] = field(default=(), metadata=_json_name("cohens_kappa"))
    per_class_accuracy: tuple[ClassAccuracyRow, ...] = ()


@dataclass(frozen=True)
class ReaderRow:
    """A person of the study: their accuracy on the first readings they gave (None without any) with its
    95% Wilson score interval, the median of their active seconds on a case (None when untimed) and their
    answers to the study's background form (``background``, by question key; None where not given)."""

    reader: str
    cohort: str
    simulated: bool
    n_answered: int
    accuracy: float | None
    accuracy_ci_low: float | None
    accuracy_ci_high: float | None
    median_seconds: float | None
    background: dict[str, Any]


@dataclass(frozen=True)
class ClassLookupRow:
    """A class whose gallery page a reader opened: when first, how many examples, and how many of the
    reader's cases of that class they answered after that first look (``n_cases_looked_up``)."""

    class_name: str = field(metadata=_json_name("class"))
    first_viewed_at: str
    n_views: int
    n_cases_looked_up: int


@dataclass(frozen=True)
class AnchoringReaderRow:
    """A reader's accuracy on the cases whose true class they had looked up in the gallery before
    answering, and on the others; ``difference`` looked up minus not (None unless both kinds)."""

    reader: str
    cohort: str
    simulated: bool
    n_looked_up: int
    n_not_looked_up: int
    accuracy_looked_up: float | None
    accuracy_not_looked_up: float | None
    difference: float | None
    classes_looked_up: tuple[ClassLookupRow, ...]


@dataclass(frozen=True)
class AnchoringEffectRow:
    """The mean over readers of their difference (looked up minus not), with its t interval and the
    p-value of the one-sample t-test, over the readers of a cohort (``cohort``) or over all readers
    (``cohort`` None); ``n_readers`` counts those with cases of both kinds. ``summary`` says it in words."""

    cohort: str | None
    simulated: bool
    n_readers: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    statistic: float | None
    p_value: float | None
    level: float
    summary: str


@dataclass(frozen=True)
class Anchoring:
    readers: tuple[AnchoringReaderRow, ...] = ()
    effects: tuple[AnchoringEffectRow, ...] = ()
    n_gallery_views: int = 0
    note: str | None = None


@dataclass(frozen=True)
class RetestReaderRow:
    """A reader's two readings of the repeated cases they answered twice (``n_repeats``): Cohen's kappa
    between the readings, and each reading's accuracy and Cohen's kappa with the truth."""

    reader: str
    cohort: str
    simulated: bool
    n_repeats: int
    kappa: float | None
    accuracy_first: float | None
    accuracy_second: float | None
    kappa_first_truth: float | None
    kappa_second_truth: float | None


@dataclass(frozen=True)
class RetestCohortRow:
    """A cohort's consistency: the mean of its readers' kappas (``mean_kappa``, over the readers who have
    one) and the kappa of all its pairs of readings pooled (``pooled_kappa``), with the pooled accuracy
    and kappa with the truth of each reading; ``n_pairs`` the pairs of readings."""

    cohort: str
    simulated: bool
    n_readers: int
    n_pairs: int
    mean_kappa: float | None
    pooled_kappa: float | None
    accuracy_first: float | None
    accuracy_second: float | None
    kappa_first_truth: float | None
    kappa_second_truth: float | None


@dataclass(frozen=True)
class Retest:
    n_repeated_cases: int = 0
    cohorts: tuple[RetestCohortRow, ...] = ()
    readers: tuple[RetestReaderRow, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class TimeQuartileRow:
    quartile: int  # 1: the fastest quarter of the cohort's answers
    n_cases: int
    median_seconds: float
    accuracy: float


@dataclass(frozen=True)
class ReadingTimeRow:
    """A cohort's active seconds per case against correctness (first readings): accuracy per quartile
    of time and Spearman's rho of time with correctness; ``n_untimed`` answers had no time."""

    cohort: str
    simulated: bool
    n_readers: int
    n_cases: int
    n_untimed: int
    spearman_rho: float | None
    p_value: float | None
    quartiles: tuple[TimeQuartileRow, ...]
    summary: str


@dataclass(frozen=True)
class InstructionsVersionRow:
    """A wording of the instructions: its SHA-256, when some participant first saw it, by how many."""

    digest: str
    first_seen_at: str
    n_participants: int
    text: str


@dataclass(frozen=True)
class SeenVersion:
    """A version of the instructions (its SHA-256) and when a participant first saw it."""

    digest: str
    first_seen_at: str


@dataclass(frozen=True)
class InstructionsSeenRow:
    """The versions of the instructions one participant saw, oldest first."""

    reader: str
    cohort: str
    simulated: bool
    seen: tuple[SeenVersion, ...]


@dataclass(frozen=True)
class Instructions:
    versions: tuple[InstructionsVersionRow, ...] = ()
    participants: tuple[InstructionsSeenRow, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class AidedOrhRow:
    """Aided against unaided readings of a cohort (``cohort`` None: all readers) as a two-modality ORH
    analysis, one figure of merit and variant; ``effect`` = ``aided_fom`` − ``unaided_fom``, ``df``
    infinite for fixed readers (null in JSON), ``var_tr`` the reader-by-modality variance (how much the
    effect differs between readers). ``summary`` says the result in words."""

    cohort: str | None
    simulated: bool
    fom: str
    variant: str
    n_readers: int
    n_cases: int
    unaided_fom: float
    aided_fom: float
    effect: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    var_tr: float
    summary: str


@dataclass(frozen=True)
class ReaderChangeRow:
    """One reader unaided and aided on the ``n_cases`` read both ways: ``helped`` counts cases wrong
    unaided and right aided, ``harmed`` the reverse, ``p_value`` McNemar's exact test of the two,
    ``ci_low``, ``ci_high`` the interval of ``change`` (aided − unaided accuracy), ``verdict``
    ``helped``, ``harmed`` or ``no detectable change`` (None below two cases)."""

    reader: str
    cohort: str
    simulated: bool
    n_cases: int
    unaided_accuracy: float | None
    aided_accuracy: float | None
    change: float | None
    helped: int
    harmed: int
    p_value: float
    std_error: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str | None


@dataclass(frozen=True)
class SwitchRow:
    """Switches toward and away from the suggestions of one source (``model`` or ``controlled``) by a
    reader (``level`` ``reader``) or a cohort (``cohort``, its readers' readings pooled); rates with an
    empty condition are None. ``unaided_change_rate`` is the share of the repeated cases the reader (or
    cohort) answered differently at their second unaided reading, of ``n_retest_pairs``: the change
    that comes without any suggestion."""

    level: str
    name: str
    cohort: str
    simulated: bool
    suggestion_source: str
    n_cases: int
    n_suggestion_right: int
    n_suggestion_wrong: int
    rair: float | None
    rsr: float | None
    harmful_switch_rate: float | None
    wrong_adopted: int
    agree_before: float | None
    agree_after: float | None
    n_rair_cases: int
    n_rsr_cases: int
    unaided_change_rate: float | None
    n_retest_pairs: int


@dataclass(frozen=True)
class SuggestionStratumRow:
    """A cohort's (``cohort`` None: all readers') accuracy unaided and aided on the cases whose
    suggestion (of ``suggestion_source``) was right, or wrong: ``n_cases`` distinct cases, ``n_readings``
    the readings of them, accuracies pooled over the readings (None without any)."""

    cohort: str | None
    simulated: bool
    suggestion_source: str
    suggestion_correct: bool
    n_cases: int
    n_readings: int
    unaided_accuracy: float | None
    aided_accuracy: float | None


@dataclass(frozen=True)
class AssistedTimeRow:
    """Seconds of two kinds of readings (``first``, ``second``) within readers of a cohort (``cohort``
    None: all readers): ``comparison`` ``arms`` (unaided against aided) or ``after_suggestion`` (the
    seconds after the suggestion when the answer alone agreed with it against when it did not). Medians
    of the pooled readings; ``median_difference`` the median of each reader's difference of medians
    (second − first), tested by ``test``."""

    comparison: str
    cohort: str | None
    simulated: bool
    first: str
    second: str
    n_readers: int
    n_first: int
    n_second: int
    median_first_seconds: float | None
    median_second_seconds: float | None
    median_difference_seconds: float | None
    statistic: float | None
    p_value: float | None
    test: str


@dataclass(frozen=True)
class CrossoverEffectRow:
    """One effect of a crossover (``effect``: ``period``, session 2 − 1; ``sequence``, between the
    sequence groups; ``carryover``, the aided effect in session 1 − in session 2) on accuracy in a
    cohort (None: all readers), tested over readers; beside it the mean accuracy per arm and session."""

    cohort: str | None
    simulated: bool
    effect: str
    n_readers: int
    estimate: float | None
    std_error: float | None
    df: float | None
    statistic: float | None
    p_value: float | None
    ci_low: float | None
    ci_high: float | None
    method: str
    unaided_session_1: float | None
    unaided_session_2: float | None
    aided_session_1: float | None
    aided_session_2: float | None


@dataclass(frozen=True)
class AssistanceSection:
    """The assisted arm: how the study was read with the machine (``design``, the ``source`` run of the
    suggestions), on what (``n_model_cases`` cases with the model's own suggestion, ``n_wrong_suggestions``
    of them wrong, read ``n_wrong_readings`` times; ``n_controlled_cases`` with a controlled one), its
    results in words (``summary``: what the design supports, the wrong suggestions, the controlled ones;
    ``readers_summary``: who was harmed or helped, with the ``caveat``), and its tables: ``orh`` (aided against unaided), ``model_vs_aided``
    (each model against the readers reading with the suggestion), ``readers``, ``switches``,
    ``by_suggestion``, ``reading_time`` and, for a crossover, ``crossover``."""

    design: str
    source: str
    level: float
    n_model_cases: int
    n_wrong_suggestions: int
    n_wrong_readings: int
    n_controlled_cases: int
    summary: tuple[str, ...]
    orh: tuple[AidedOrhRow, ...] = ()
    model_vs_aided: tuple[MRMCRow, ...] = ()
    readers: tuple[ReaderChangeRow, ...] = ()
    readers_summary: str = ""
    caveat: str = ""
    switches: tuple[SwitchRow, ...] = ()
    by_suggestion: tuple[SuggestionStratumRow, ...] = ()
    reading_time: tuple[AssistedTimeRow, ...] = ()
    crossover: tuple[CrossoverEffectRow, ...] = ()


def finite_or_none(value: float | None) -> float | None:
    """A figure as the report holds it: None where it is undefined (NaN) or infinite (JSON has neither)."""
    return None if value is None or not math.isfinite(value) else float(value)


def _array(values: np.ndarray) -> list:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        plain = values.astype(object)
        plain[~np.isfinite(values)] = None
        return plain.tolist()
    return values.tolist()


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _fields_of(kind: type) -> tuple[tuple[str, str], ...]:
    """(Python name, JSON key) of each field of a dataclass, looked up once per class."""
    if kind not in _FIELDS:
        _FIELDS[kind] = tuple((item.name, item.metadata.get("json", item.name)) for item in fields(kind))
    return _FIELDS[kind]


def plain(value: Any) -> Any:
    """``value`` as JSON holds it: a dataclass as an object of its fields (under their JSON keys),
    tuples as lists, arrays as nested lists, numpy scalars as Python ones, NaN and infinity as null."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or kind in (str, int, bool):
        return value
    if kind is Confusions:
        return value.to_json()
    if is_dataclass(value):
        # Rows of plain values are most of a large report: those are copied here without a call each.
        row = {}
        for name, key in _fields_of(kind):
            item = getattr(value, name)
            item_kind = type(item)
            if item is None or item_kind in (str, int, bool):
                row[key] = item
            elif item_kind is float:
                row[key] = item if math.isfinite(item) else None
            else:
                row[key] = plain(item)
        return row
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return _array(value)
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        return plain(float(value))
    raise TypeError(f"{kind.__name__} has no JSON form")


@dataclass(frozen=True, eq=False)
class Report:
    """A study's comparison as ``analysis.report.compute_report`` computed it; ``notes`` say what was
    left out and why, ``preface`` what the study's report opens with."""

    study: str
    dataset: str
    class_names: tuple[str, ...]
    seed: int
    repetitions: int
    allow_missing: bool
    margin: float | None
    n_samples: int
    models: tuple[str, ...]
    missing_answers: dict[str, int]
    notes: tuple[Note, ...]
    table2: tuple[Table2Row, ...]
    table3: tuple[Table3Row, ...]
    confusions: Confusions = field(metadata=_json_name("figure4"))
    table1: tuple[Table1Row, ...]
    table7: Table7 | None
    cases: tuple[Case, ...]
    mrmc: tuple[MRMCRow, ...] = ()
    agreement: Agreement = field(default_factory=Agreement)
    readers: tuple[ReaderRow, ...] = ()
    background_questions: dict[str, str] = field(default_factory=dict)
    anchoring: Anchoring = field(default_factory=Anchoring)
    test_retest: Retest = field(default_factory=Retest)
    reading_time: tuple[ReadingTimeRow, ...] = ()
    instructions: Instructions = field(default_factory=Instructions)
    preface: str = ""
    assistance: AssistanceSection | None = None

    def to_dict(self) -> dict[str, Any]:
        """The report as ``report.json`` holds it; ``p_noninferiority`` only when a margin was given,
        ``assistance`` only for a study read with the machine's suggestion."""
        document = plain(self)
        model_rows = document["mrmc"] + (document["assistance"] or {}).get("model_vs_aided", [])
        if self.margin is None:
            for row in model_rows:
                del row["p_noninferiority"]
        if self.assistance is None:
            del document["assistance"]
        return document


def json_text(document: dict[str, Any]) -> str:
    """``report.json``'s text: an object per line down to the rows of its tables (each row one line),
    so that it reads and compares line by line, yet every line is written by the json module's C
    encoder (an indented dump is written in Python, ten times slower on a large study)."""
    return _lines(document, "") + "\n"


def _lines(value: Any, indent: str) -> str:
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(key)}: {_lines(item, inner)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        rows = [inner + json.dumps(item, allow_nan=False, ensure_ascii=False) for item in value]
        return "[\n" + ",\n".join(rows) + f"\n{indent}]"
    return json.dumps(value, allow_nan=False, ensure_ascii=False)
