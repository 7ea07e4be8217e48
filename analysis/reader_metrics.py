"""Classification metrics of readers (people and models alike) against reference labels.

The array conventions and the shared checks are those of ``analysis.reader_arrays`` and
``models_zoo.classification_figures``, which also holds the multi-label figures and AUC of a model's
probabilities (Tables 1 and 7).

Single-label figures follow the paper's Table 2 ("averaged over 13 tasks"): each class is scored one
versus rest, and the macro figure is the plain mean over all ``n_classes`` classes. A ratio whose
denominator is zero (precision of a class never predicted, recall of a class with no sample, F1 of a
class neither present nor predicted) takes the value ``zero_division``: 0 by default, the convention of
scikit-learn's ``zero_division=0``; with ``zero_division=nan`` such classes are left out of the macro
mean instead. F1 is computed as ``2 TP / (2 TP + FP + FN)``, which equals the harmonic mean of
precision and recall wherever both are defined.

An unanswered sample counts as wrong by default (``unanswered="wrong"``): it lowers accuracy and the
recall of its true class and is no prediction of any class. ``unanswered="exclude"`` scores each
reader only on the samples they answered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from analysis.reader_arrays import check_answers, jsonable
from models_zoo.classification_figures import (
    MetricInputError,
    check_truth,
    check_zero_division,
    mean_over_classes,
    ratio,
)

UNANSWERED_POLICIES = ("wrong", "exclude")

# Upper bound on the entries of the temporary (reader, sample) index arrays built per chunk, which
# keeps memory flat however many readers or repetitions are scored at once.
CHUNK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class SummaryMetrics:
    """The four figures of a row of the paper's Table 2."""

    accuracy: float
    f1: float
    precision: float
    recall: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable({field.name: getattr(self, field.name) for field in fields(self)})


@dataclass(frozen=True, eq=False)
class ClassificationMetrics:
    """Single-label figures of one reader: accuracy, macro F1/precision/recall and their per-class values."""

    accuracy: float
    f1: float
    precision: float
    recall: float
    per_class_f1: np.ndarray
    per_class_precision: np.ndarray
    per_class_recall: np.ndarray
    support: np.ndarray
    n_samples: int
    n_answered: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable({field.name: getattr(self, field.name) for field in fields(self)})


@dataclass(frozen=True, eq=False)
class ReaderMetrics:
    """The figures of ``ClassificationMetrics`` for many readers at once, one row per reader;
    ``reader(i)`` gives one reader's."""

    accuracy: np.ndarray
    f1: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    per_class_f1: np.ndarray
    per_class_precision: np.ndarray
    per_class_recall: np.ndarray
    support: np.ndarray
    n_samples: int
    n_answered: np.ndarray

    def __len__(self) -> int:
        return int(self.accuracy.shape[0])

    def reader(self, index: int) -> ClassificationMetrics:
        return ClassificationMetrics(
            accuracy=float(self.accuracy[index]),
            f1=float(self.f1[index]),
            precision=float(self.precision[index]),
            recall=float(self.recall[index]),
            per_class_f1=self.per_class_f1[index],
            per_class_precision=self.per_class_precision[index],
            per_class_recall=self.per_class_recall[index],
            support=self.support[index],
            n_samples=self.n_samples,
            n_answered=int(self.n_answered[index]),
        )

    def mean(self) -> SummaryMetrics:
        """Each figure averaged over the readers (the paper's "Mean Scholars" row)."""
        return SummaryMetrics(
            accuracy=float(np.mean(self.accuracy)),
            f1=float(np.mean(self.f1)),
            precision=float(np.mean(self.precision)),
            recall=float(np.mean(self.recall)),
        )

    def std(self) -> SummaryMetrics:
        """Population standard deviation of each figure over the readers."""
        return SummaryMetrics(
            accuracy=float(np.std(self.accuracy)),
            f1=float(np.std(self.f1)),
            precision=float(np.std(self.precision)),
            recall=float(np.std(self.recall)),
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable({field.name: getattr(self, field.name) for field in fields(self)})

    @classmethod
    def from_confusion_counts(
        cls, counts: np.ndarray, *, zero_division: float = 0.0, unanswered: str = "wrong"
    ) -> ReaderMetrics:
        """Figures from ``confusion_counts`` output ``(n_readers, n_classes, n_classes + 1)``."""
        zero_division = check_zero_division(zero_division)
        if unanswered not in UNANSWERED_POLICIES:
            raise MetricInputError(f"unanswered: expected one of {UNANSWERED_POLICIES}, got {unanswered!r}")
        n_classes = counts.shape[1]
        answered = counts[:, :, :n_classes]
        true_positives = np.diagonal(answered, axis1=1, axis2=2)
        predicted = answered.sum(axis=1)
        support = (answered if unanswered == "exclude" else counts).sum(axis=2)
        n_answered = answered.sum(axis=(1, 2))
        n_samples = int(counts[0].sum())
        scored = n_answered if unanswered == "exclude" else np.full_like(n_answered, n_samples)
        per_class_precision = ratio(true_positives, predicted, zero_division)
        per_class_recall = ratio(true_positives, support, zero_division)
        per_class_f1 = ratio(2 * true_positives, predicted + support, zero_division)
        return cls(
            accuracy=ratio(true_positives.sum(axis=1), scored, math.nan),
            f1=mean_over_classes(per_class_f1),
            precision=mean_over_classes(per_class_precision),
            recall=mean_over_classes(per_class_recall),
            per_class_f1=per_class_f1,
            per_class_precision=per_class_precision,
            per_class_recall=per_class_recall,
            support=support,
            n_samples=n_samples,
            n_answered=n_answered,
        )


def confusion_counts(answers: Any, truth: Any, n_classes: int) -> np.ndarray:
    """Per-reader confusion counts ``(n_readers, n_classes, n_classes + 1)``.

    Rows are the true class, columns the answer; the extra last column counts unanswered samples.
    ``truth`` is ``(n_samples,)``, shared by all readers, or ``(n_readers, n_samples)`` (resamples).
    One ``bincount`` per chunk of readers; no loop over samples.
    """
    matrix = check_answers(answers, n_classes)
    n_readers, n_samples = matrix.shape
    labels = check_truth(truth, n_classes, n_samples=n_samples)
    if labels.ndim == 2 and labels.shape[0] != n_readers:
        raise MetricInputError(f"truth: has {labels.shape[0]} rows, the answers have {n_readers} readers")
    labels = np.broadcast_to(labels, matrix.shape)
    width = n_classes + 1
    cells = n_classes * width
    counts = np.empty((n_readers, cells), dtype=np.int64)
    readers_per_chunk = max(1, CHUNK_ELEMENTS // n_samples)
    for start in range(0, n_readers, readers_per_chunk):
        stop = min(start + readers_per_chunk, n_readers)
        chunk = matrix[start:stop].astype(np.int64)
        cell = labels[start:stop] * width + np.where(chunk < 0, n_classes, chunk)
        cell += np.arange(stop - start, dtype=np.int64)[:, np.newaxis] * cells
        counts[start:stop] = np.bincount(cell.ravel(), minlength=(stop - start) * cells).reshape(-1, cells)
    return counts.reshape(n_readers, n_classes, width)


def readers_metrics(
    answers: Any, truth: Any, n_classes: int, *, zero_division: float = 0.0, unanswered: str = "wrong"
) -> ReaderMetrics:
    """Single-label figures of every reader of an ``(n_readers, n_samples)`` answer matrix at once."""
    counts = confusion_counts(answers, truth, n_classes)
    return ReaderMetrics.from_confusion_counts(counts, zero_division=zero_division, unanswered=unanswered)


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Confusion counts, rows = true class, columns = answer (the paper's Figure 4).

    ``counts`` is ``(n_classes, n_classes)`` for one reader or ``(n_readers, n_classes, n_classes)``;
    ``unanswered`` counts, per true class, the samples left without an answer.
    """

    counts: np.ndarray
    unanswered: np.ndarray

    @property
    def row_normalized(self) -> np.ndarray:
        """Each row divided by the number of samples of that true class (NaN for a class with none).

        Unanswered samples are part of the denominator, so a row sums to the fraction answered.
        """
        totals = self.counts.sum(axis=-1) + self.unanswered
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(totals[..., np.newaxis] > 0, self.counts / totals[..., np.newaxis], np.nan)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {"counts": self.counts, "unanswered": self.unanswered, "row_normalized": self.row_normalized}
        )


def confusion_matrix(answers: Any, truth: Any, n_classes: int) -> ConfusionMatrix:
    """Confusion matrix of one reader (1-D answers) or of each of many readers (2-D answers)."""
    counts = confusion_counts(answers, truth, n_classes)
    if np.ndim(answers) == 1:
        counts = counts[0]
    return ConfusionMatrix(counts=counts[..., :n_classes], unanswered=counts[..., n_classes])


