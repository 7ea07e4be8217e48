"""Agreement between readers (Cohen's and Fleiss' kappa) and per-class accuracy of readers and cohorts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from statsmodels.stats import inter_rater

from analysis.reader_arrays import NO_ANSWER, check_answers, jsonable
from analysis.reader_metrics import CHUNK_ELEMENTS, UNANSWERED_POLICIES, confusion_counts
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


@dataclass(frozen=True, eq=False)
class PairKappas:
    """Cohen's kappa of pairs of readers, ``kappa``, and the number of samples each pair both answered,
    ``n_samples``, in arrays of the same shape: ``(n_first, n_second)`` for every reader of one group
    with every reader of another, ``(n_readers,)`` for rows read in pairs."""

    kappa: np.ndarray
    n_samples: np.ndarray


def _cohens_kappa(agreed: np.ndarray, chance: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Cohen's kappa (Cohen 1960) ``(p_o − p_e) / (1 − p_e)`` from whole-number counts: the samples two
    readers both answered alike, ``agreed``; the sum over classes of the product of their answer
    counts, ``chance`` (``p_e = chance / used²``); and the samples both answered, ``used``. NaN where
    no sample was answered by both or chance agreement is total."""
    with np.errstate(divide="ignore", invalid="ignore"):
        used_squared = used.astype(float) ** 2
        expected = chance / used_squared
        kappa = (agreed / used - expected) / (1 - expected)
    return np.where((used > 0) & (chance < used_squared), kappa, np.nan)


def cohens_kappa_rows(first: Any, second: Any, n_classes: int) -> PairKappas:
    """Cohen's kappa of ``first[r]`` with ``second[r]`` for every row ``r`` at once (two readings of
    each reader, or a reader's answers with the truth), each row on the columns both answered."""
    n_classes = check_n_classes(n_classes)
    a = check_answers(first, n_classes, name="first")
    b = check_answers(second, n_classes, name="second")
    if a.shape != b.shape:
        raise MetricInputError(f"second: expected shape {a.shape}, got {b.shape}")
    both = (a != NO_ANSWER) & (b != NO_ANSWER)
    rows = np.broadcast_to(np.arange(a.shape[0])[:, np.newaxis], a.shape)[both]
    size = a.shape[0] * n_classes
    margin_a = np.bincount(rows * n_classes + a[both], minlength=size).reshape(-1, n_classes)
    margin_b = np.bincount(rows * n_classes + b[both], minlength=size).reshape(-1, n_classes)
    agreed = np.sum(both & (a == b), axis=1)
    used = both.sum(axis=1)
    return PairKappas(kappa=_cohens_kappa(agreed, np.sum(margin_a * margin_b, axis=1), used), n_samples=used)


def cohens_kappa(first: Any, second: Any, n_classes: int) -> KappaResult:
    """Cohen's kappa (Cohen 1960) between two readers' answers on the same samples.

    Samples that either reader left unanswered are excluded. NaN when the chance agreement is 1.
    """
    a = check_answers(first, check_n_classes(n_classes), name="first")
    b = check_answers(second, n_classes, name="second")
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise MetricInputError("first, second: expected one reader's answers each (n_samples,)")
    if a.shape != b.shape:
        raise MetricInputError(f"second: has {b.shape[1]} samples, first has {a.shape[1]}")
    pair = cohens_kappa_rows(a, b, n_classes)
    n_used = int(pair.n_samples[0])
    if n_used == 0:
        raise MetricInputError("first, second: no sample was answered by both readers")
    return KappaResult(float(pair.kappa[0]), 2, n_used, int(a.shape[1] - n_used), "Cohen's kappa")


def cohens_kappa_matrix(first: Any, second: Any, n_classes: int) -> PairKappas:
    """Cohen's kappa of each reader of ``first`` ``(n_first, n_samples)`` with each of ``second``.

    The same figure as ``cohens_kappa`` for every pair, each pair on the samples both answered: for
    each reader of ``second``, the 2-way tables with every reader of ``first`` come from one
    ``bincount`` (an unanswered sample falls in an extra row or column, left out). Work grows as
    ``n_first × n_second × n_samples``; chunked over ``first`` so memory stays flat.
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
            used = tables.sum(axis=(1, 2))
            chance = np.einsum("rc,rc->r", tables.sum(axis=2), tables.sum(axis=1))
            kappa[start : start + n_rows, column] = _cohens_kappa(np.trace(tables, axis1=1, axis2=2), chance, used)
            n_used[start : start + n_rows, column] = used
    return PairKappas(kappa=kappa, n_samples=n_used)


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
