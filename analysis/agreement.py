"""Agreement between readers (Cohen's and Fleiss' kappa) and per-class accuracy of readers and cohorts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from statsmodels.stats import inter_rater

from analysis.metrics import CHUNK_ELEMENTS, UNANSWERED_POLICIES, confusion_counts
from analysis.reader_arrays import NO_ANSWER, check_answers, jsonable
from models_zoo.classification_figures import MetricInputError, check_n_classes


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


@dataclass(frozen=True, eq=False)
class KappaMatrix:
    """Cohen's kappa of every reader of one group with every reader of another: ``kappa`` and the
    number of samples both answered, ``n_samples``, each ``(n_first, n_second)``."""

    kappa: np.ndarray
    n_samples: np.ndarray


def cohens_kappa_matrix(first: Any, second: Any, n_classes: int) -> KappaMatrix:
    """Cohen's kappa of each reader of ``first`` ``(n_first, n_samples)`` with each of ``second``.

    The same figure as ``cohens_kappa`` for every pair, each pair on the samples both answered: for
    each reader of ``second``, the 2-way tables with every reader of ``first`` come from one
    ``bincount`` (an unanswered sample falls in an extra row or column, left out), and kappa is
    ``(p_o − p_e) / (1 − p_e)`` from each table's diagonal and margins, in whole-number counts. Work
    grows as ``n_first × n_second × n_samples``; chunked over ``first`` so memory stays flat. NaN
    where the chance agreement is 1 or no sample was answered by both.
    """
    n_classes = check_n_classes(n_classes)
    a = check_answers(first, n_classes, name="first")
    b = check_answers(second, n_classes, name="second")
    if a.shape[1] != b.shape[1]:
        raise MetricInputError(f"second: has {b.shape[1]} samples, first has {a.shape[1]}")
    width = n_classes + 1
    cells = width * width
    kappa = np.empty((a.shape[0], b.shape[0]))
    n_used = np.empty((a.shape[0], b.shape[0]), dtype=np.int64)
    partners = np.where(b < 0, n_classes, b).astype(np.int64)
    rows_per_chunk = max(1, CHUNK_ELEMENTS // a.shape[1])
    for start in range(0, a.shape[0], rows_per_chunk):
        chunk = a[start : start + rows_per_chunk]
        n_rows = chunk.shape[0]
        base = np.where(chunk < 0, n_classes, chunk).astype(np.int64) * width
        base += np.arange(n_rows, dtype=np.int64)[:, np.newaxis] * cells
        for column, partner in enumerate(partners):
            tables = np.bincount((base + partner).ravel(), minlength=n_rows * cells).reshape(n_rows, width, width)
            tables = tables[:, :n_classes, :n_classes]
            both = tables.sum(axis=(1, 2))
            agree = np.trace(tables, axis1=1, axis2=2)
            chance = np.einsum("rc,rc->r", tables.sum(axis=2), tables.sum(axis=1))
            with np.errstate(divide="ignore", invalid="ignore"):
                expected = chance / both.astype(float) ** 2
                values = (agree / both - expected) / (1 - expected)
            defined = (both > 0) & (chance < both.astype(float) ** 2)
            kappa[start : start + n_rows, column] = np.where(defined, values, np.nan)
            n_used[start : start + n_rows, column] = both
    return KappaMatrix(kappa=kappa, n_samples=n_used)


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
    the mean of the readers' values when every reader is scored on the same samples. ``support`` counts
    each class's samples. Unanswered samples count as wrong, or are left out with
    ``unanswered="exclude"``; a class without (answered) samples is NaN.
    """

    per_reader: np.ndarray
    cohort: np.ndarray
    support: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return jsonable({field.name: getattr(self, field.name) for field in fields(self)})


def per_class_accuracy(answers: Any, truth: Any, n_classes: int, *, unanswered: str = "wrong") -> PerClassAccuracy:
    """Per-class accuracy of each reader of ``answers`` ``(n_readers, n_samples)`` and of the cohort."""
    if unanswered not in UNANSWERED_POLICIES:
        raise MetricInputError(f"unanswered: expected one of {UNANSWERED_POLICIES}, got {unanswered!r}")
    counts = confusion_counts(answers, truth, n_classes)
    correct = np.diagonal(counts[:, :, :n_classes], axis1=1, axis2=2)
    support = counts[0].sum(axis=1)
    if unanswered == "exclude":
        scored = counts[:, :, :n_classes].sum(axis=2)
    else:
        scored = np.broadcast_to(support, correct.shape)
    pooled = scored.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_reader = np.where(scored > 0, correct / np.maximum(scored, 1), np.nan)
        cohort = np.where(pooled > 0, correct.sum(axis=0) / np.maximum(pooled, 1), np.nan)
    return PerClassAccuracy(per_reader=per_reader, cohort=cohort, support=support)
