"""Agreement between readers (Cohen's and Fleiss' kappa) and per-class accuracy of readers and cohorts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from statsmodels.stats import inter_rater

from analysis.metrics import confusion_counts
from models_zoo.metrics import NO_ANSWER, MetricInputError, check_answers, check_n_classes, jsonable


@dataclass(frozen=True)
class KappaResult:
    """A chance-corrected agreement; samples with a missing answer are left out and counted."""

    kappa: float
    n_readers: int
    n_samples: int
    n_excluded: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def _kappa_or_nan(compute: Callable[[], float]) -> float:
    # Kappa is undefined (0/0) when chance agreement is total, e.g. every answer is the same class.
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(compute())


def cohens_kappa(first: Any, second: Any, n_classes: int) -> KappaResult:
    """Cohen's kappa (Cohen 1960) between two readers' answers on the same samples.

    Samples that either reader left unanswered are excluded. NaN when the chance agreement is 1.
    """
    n_classes = check_n_classes(n_classes)
    a = check_answers(first, n_classes, name="first")
    b = check_answers(second, n_classes, name="second")
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise MetricInputError("first, second: expected one reader's answers each (n_samples,)")
    if a.shape != b.shape:
        raise MetricInputError(f"second: has {b.shape[1]} samples, first has {a.shape[1]}")
    both = (a[0] != NO_ANSWER) & (b[0] != NO_ANSWER)
    n_used = int(both.sum())
    if n_used == 0:
        raise MetricInputError("first, second: no sample was answered by both readers")
    table = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(table, (a[0][both].astype(np.int64), b[0][both].astype(np.int64)), 1)
    kappa = _kappa_or_nan(lambda: inter_rater.cohens_kappa(table, return_results=False))
    return KappaResult(kappa, 2, n_used, int(a.shape[1] - n_used), "Cohen's kappa")


def fleiss_kappa(answers: Any, n_classes: int) -> KappaResult:
    """Fleiss' kappa (Fleiss 1971) of a cohort's answers ``(n_readers, n_samples)``.

    Fleiss' kappa needs the same number of ratings per sample, so samples that any reader left
    unanswered are excluded. NaN when the chance agreement is 1.
    """
    n_classes = check_n_classes(n_classes)
    matrix = check_answers(answers, n_classes)
    n_readers, n_samples = matrix.shape
    if n_readers < 2:
        raise MetricInputError(f"answers: Fleiss' kappa needs at least two readers, got {n_readers}")
    complete = (matrix != NO_ANSWER).all(axis=0)
    n_used = int(complete.sum())
    if n_used == 0:
        raise MetricInputError("answers: no sample was answered by every reader")
    table, _ = inter_rater.aggregate_raters(matrix[:, complete].T.astype(np.int64), n_cat=n_classes)
    kappa = _kappa_or_nan(lambda: inter_rater.fleiss_kappa(table, method="fleiss"))
    return KappaResult(kappa, n_readers, n_used, n_samples - n_used, "Fleiss' kappa")


@dataclass(frozen=True, eq=False)
class PerClassAccuracy:
    """Fraction of each true class's samples answered correctly (per-class recall).

    ``per_reader`` is ``(n_readers, n_classes)``; ``cohort`` pools the cohort's answers, which equals
    the mean of the readers' values. Unanswered samples count as wrong; a class without samples is NaN.
    """

    per_reader: np.ndarray
    cohort: np.ndarray
    support: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return jsonable({field.name: getattr(self, field.name) for field in fields(self)})


def per_class_accuracy(answers: Any, truth: Any, n_classes: int) -> PerClassAccuracy:
    """Per-class accuracy of each reader of ``answers`` ``(n_readers, n_samples)`` and of the cohort."""
    counts = confusion_counts(answers, truth, n_classes)
    correct = np.diagonal(counts[:, :, :n_classes], axis1=1, axis2=2)
    support = counts[0].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_reader = np.where(support > 0, correct / np.maximum(support, 1), np.nan)
        cohort = np.where(support > 0, correct.sum(axis=0) / np.maximum(support * counts.shape[0], 1), np.nan)
    return PerClassAccuracy(per_reader=per_reader, cohort=cohort, support=support)
