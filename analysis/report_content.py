"""What a report holds: the rows of the paper's Tables 1, 2, 3 and 7, Figure 4's confusion matrices and
the appendix's cases, each model against the population of readers of each cohort (multi-reader
multi-case), the agreement between readers, as named values, and the report's JSON form
(``report.json``).

``analysis.report`` computes them; ``analysis.report_tables`` lays them out as CSV and page tables.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from models_zoo.metrics import jsonable


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
    """A reader against the model. An ensemble's cells are means over its tie-breaking repetitions and
    its p-values the medians of the repetitions' tests."""

    reader: str
    cohort: str
    simulated: bool | None
    both_correct: float
    model_only: float
    reader_only: float
    both_wrong: float
    statistic: float
    p_value: float
    p_value_exact: float


@dataclass(frozen=True, eq=False)
class Confusion:
    """A reader's confusion matrix (the paper's Figure 4): rows the true class, columns the answer."""

    reader: str
    cohort: str
    counts: np.ndarray
    unanswered: np.ndarray
    row_normalized: np.ndarray


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
    """A study sample the experts all got wrong: also the model (``both_wrong``) or not (``only_model``)."""

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
    class_name: str
    accuracy: float
    n_samples: int


@dataclass(frozen=True)
class Agreement:
    """The agreement section: Fleiss' kappa per cohort, pairwise Cohen's kappa, per-class accuracy."""

    fleiss: tuple[FleissRow, ...] = ()
    cohen: tuple[CohenRow, ...] = ()
    per_class_accuracy: tuple[ClassAccuracyRow, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "fleiss_kappa": [asdict(row) for row in self.fleiss],
            "cohens_kappa": [asdict(row) for row in self.cohen],
            "per_class_accuracy": [
                {("class" if key == "class_name" else key): value for key, value in asdict(row).items()}
                for row in self.per_class_accuracy
            ],
        }


def _finite_or_none(value: Any) -> Any:
    # JSON has neither infinity nor NaN: an infinite df (the normal reference) is null, as NaN is.
    return None if isinstance(value, float) and not math.isfinite(value) else value


def mrmc_row_dict(row: MRMCRow, with_margin: bool) -> dict[str, Any]:
    """An ``MRMCRow`` as ``report.json`` holds it: ``p_noninferiority`` only when a margin was given."""
    values = {key: _finite_or_none(value) for key, value in asdict(row).items()}
    if not with_margin:
        del values["p_noninferiority"]
    return values


@dataclass(frozen=True, eq=False)
class Report:
    """A study's comparison as ``analysis.report.compute_report`` computed it; ``notes`` say what was
    left out and why."""

    study: str
    dataset: str
    class_names: tuple[str, ...]
    seed: int
    repetitions: int
    allow_missing: bool
    n_samples: int
    models: tuple[str, ...]
    missing_answers: dict[str, int]
    table2: tuple[Table2Row, ...]
    table3: tuple[Table3Row, ...]
    confusions: tuple[Confusion, ...]
    table1: tuple[Table1Row, ...]
    table7: Table7 | None
    cases: tuple[Case, ...]
    mrmc: tuple[MRMCRow, ...] = ()
    agreement: Agreement = field(default_factory=Agreement)
    margin: float | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "study": self.study,
                "dataset": self.dataset,
                "class_names": list(self.class_names),
                "seed": self.seed,
                "repetitions": self.repetitions,
                "allow_missing": self.allow_missing,
                "margin": self.margin,
                "n_samples": self.n_samples,
                "models": list(self.models),
                "missing_answers": self.missing_answers,
                "notes": list(self.notes),
                "table2": [asdict(row) for row in self.table2],
                "table3": [asdict(row) for row in self.table3],
                "figure4": [
                    {
                        "reader": c.reader,
                        "cohort": c.cohort,
                        "counts": c.counts,
                        "unanswered": c.unanswered,
                        "row_normalized": c.row_normalized,
                    }
                    for c in self.confusions
                ],
                "table1": [asdict(row) for row in self.table1],
                "table7": None
                if self.table7 is None
                else {"class_names": list(self.table7.class_names), "per_class_f1": self.table7.per_class_f1},
                "cases": [asdict(case) for case in self.cases],
                "mrmc": [mrmc_row_dict(row, self.margin is not None) for row in self.mrmc],
                "agreement": self.agreement.to_dict(),
            }
        )
