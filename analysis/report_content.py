"""What a report holds: the rows of the paper's Tables 1, 2, 3 and 7, Figure 4's confusion matrices and
the appendix's cases, as named values, and the report's JSON form (``report.json``).

``analysis.report`` computes them; ``analysis.report_tables`` lays them out as CSV and page tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from models_zoo.metrics import jsonable


@dataclass(frozen=True, kw_only=True)
class Table2Row:
    """A row of the paper's Table 2. Confidence intervals are bootstrapped for single readers only;
    a cohort's mean and an ensemble have none."""

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
            }
        )
