"""Classification figures that training and analysis share, Django-free, on numpy arrays: per-class
F1, precision, recall and AUC, and their means over classes (the paper's Tables 1 and 7).

Array conventions (the ``analysis`` package follows them too, and adds readers' answers in
``analysis.reader_arrays``):

- single-label truth: int array ``(n_samples,)`` of class indices;
- multi-label truth: boolean matrix ``(n_samples, n_classes)``;
- probabilities: float matrix ``(n_samples, n_classes)``;
- ``n_classes`` is always given explicitly.

Each class is scored one versus rest and the macro figure is the plain mean over all ``n_classes``
classes (the paper's Tables 1, 2 and 7). A ratio whose denominator is zero (precision of a class never
predicted, recall of a class with no sample, F1 of a class neither present nor predicted) takes the
value ``zero_division``: 0 by default, the convention of scikit-learn's ``zero_division=0``; with
``zero_division=nan`` such classes are left out of the macro mean instead. F1 is computed as
``2 TP / (2 TP + FP + FN)``, which equals the harmonic mean of precision and recall wherever both are
defined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata


class MetricInputError(ValueError):
    """Input arrays that break the conventions above (shape, type or value range)."""


def position(index: tuple[int, ...]) -> str:
    """An array element's index as an error message shows it: ``[2, 5]``."""
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def check_n_classes(n_classes: int) -> int:
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise MetricInputError(f"n_classes: expected an integer of at least 2, got {n_classes!r}")
    return int(n_classes)


def check_truth(truth: Any, n_classes: int, *, n_samples: int | None = None, name: str = "truth") -> np.ndarray:
    """Single-label truth as an int64 array ``(n_samples,)`` (or a matrix matching many readers)."""
    n_classes = check_n_classes(n_classes)
    values = np.asarray(truth)
    if values.ndim not in (1, 2) or values.size == 0:
        raise MetricInputError(f"{name}: expected a non-empty array of class indices, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.integer):
        raise MetricInputError(f"{name}: expected integer class indices, got dtype {values.dtype}")
    if n_samples is not None and values.shape[-1] != n_samples:
        raise MetricInputError(f"{name}: has {values.shape[-1]} samples, the answers have {n_samples}")
    bad = (values < 0) | (values >= n_classes)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        raise MetricInputError(
            f"{name}{position(where)} = {values[where]} is not a class index 0..{n_classes - 1}"
        )
    return values.astype(np.int64, copy=False)


def check_indicator(matrix: Any, n_classes: int, *, name: str) -> np.ndarray:
    """A multi-label matrix ``(n_samples, n_classes)`` of booleans (or of 0 and 1) as booleans."""
    n_classes = check_n_classes(n_classes)
    values = np.asarray(matrix)
    if values.ndim != 2 or values.shape[1] != n_classes or values.shape[0] == 0:
        raise MetricInputError(f"{name}: expected shape (n_samples, {n_classes}), got {values.shape}")
    if values.dtype == bool:
        return values
    if not np.issubdtype(values.dtype, np.integer) or ((values != 0) & (values != 1)).any():
        raise MetricInputError(f"{name}: expected booleans (or 0 and 1), got dtype {values.dtype}")
    return values.astype(bool)


def as_indicator(truth: Any, n_classes: int, *, name: str = "truth") -> np.ndarray:
    """Truth as a boolean matrix ``(n_samples, n_classes)``: single-label indices become one-vs-rest."""
    values = np.asarray(truth)
    if values.ndim == 1:
        indices = check_truth(values, n_classes, name=name)
        return indices[:, np.newaxis] == np.arange(n_classes)
    return check_indicator(values, n_classes, name=name)


def check_zero_division(zero_division: float) -> float:
    value = float(zero_division)
    if not (math.isnan(value) or 0.0 <= value <= 1.0):
        raise MetricInputError(f"zero_division: expected a value in [0, 1] or nan, got {zero_division!r}")
    return value


def ratio(numerator: np.ndarray, denominator: np.ndarray, zero_division: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), zero_division)


def mean_over_classes(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis, skipping NaN (classes left undefined); NaN when none is defined."""
    defined = ~np.isnan(values)
    count = defined.sum(axis=-1)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


@dataclass(frozen=True)
class ClassSpread:
    """Mean and population standard deviation of a per-class figure (the paper's Table 1 "± std")."""

    mean: float
    std: float
    n_classes: int


def spread_over_classes(per_class: Any) -> ClassSpread:
    """Mean and standard deviation over classes, NaN classes skipped.

    The standard deviation is the population one (``ddof=0``): it is the one that reproduces the
    paper's Table 1 (0.78 ± 0.09, 0.75 ± 0.12, ...) from the per-class F1 of its Table 7.
    """
    values = np.asarray(per_class, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise MetricInputError(f"per_class: expected a non-empty 1-D array, got shape {values.shape}")
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return ClassSpread(mean=math.nan, std=math.nan, n_classes=0)
    return ClassSpread(mean=float(defined.mean()), std=float(defined.std(ddof=0)), n_classes=int(defined.size))


@dataclass(frozen=True, eq=False)
class MultiLabelMetrics:
    """Per-class F1, precision and recall of binary multi-label predictions (the paper's Tables 1 and 7)."""

    per_class_f1: np.ndarray
    per_class_precision: np.ndarray
    per_class_recall: np.ndarray
    support: np.ndarray
    f1: float
    f1_std: float
    precision: float
    recall: float
    n_samples: int


def multilabel_metrics(predicted: Any, truth: Any, n_classes: int, *, zero_division: float = 0.0) -> MultiLabelMetrics:
    """Per-class one-vs-rest figures of boolean predictions ``(n_samples, n_classes)``.

    ``f1_std`` is the population standard deviation over classes (see ``spread_over_classes``).
    """
    zero_division = check_zero_division(zero_division)
    positive = check_indicator(predicted, n_classes, name="predicted")
    actual = as_indicator(truth, n_classes)
    if actual.shape[0] != positive.shape[0]:
        raise MetricInputError(f"truth: has {actual.shape[0]} samples, the predictions have {positive.shape[0]}")
    true_positives = (positive & actual).sum(axis=0)
    predicted_count = positive.sum(axis=0)
    support = actual.sum(axis=0)
    per_class_f1 = ratio(2 * true_positives, predicted_count + support, zero_division)
    per_class_precision = ratio(true_positives, predicted_count, zero_division)
    per_class_recall = ratio(true_positives, support, zero_division)
    f1_spread = spread_over_classes(per_class_f1)
    return MultiLabelMetrics(
        per_class_f1=per_class_f1,
        per_class_precision=per_class_precision,
        per_class_recall=per_class_recall,
        support=support,
        f1=f1_spread.mean,
        f1_std=f1_spread.std,
        precision=float(mean_over_classes(per_class_precision)),
        recall=float(mean_over_classes(per_class_recall)),
        n_samples=int(positive.shape[0]),
    )


def check_probabilities(probabilities: Any, n_classes: int) -> np.ndarray:
    values = np.asarray(probabilities)
    if values.ndim != 2 or values.shape[1] != n_classes or values.shape[0] == 0:
        raise MetricInputError(f"probabilities: expected shape (n_samples, {n_classes}), got {values.shape}")
    if not np.issubdtype(values.dtype, np.floating):
        raise MetricInputError(f"probabilities: expected floating-point values, got dtype {values.dtype}")
    if not np.isfinite(values).all():
        where = tuple(np.argwhere(~np.isfinite(values))[0])
        raise MetricInputError(f"probabilities{position(where)} = {values[where]} is not a finite number")
    return values


def auc_per_class(probabilities: Any, truth: Any, n_classes: int) -> np.ndarray:
    """Area under the ROC curve of each class, one versus rest, from the Mann-Whitney U statistic.

    AUC = U / (n_pos n_neg) with U from the rank sum of the positives (Mann & Whitney 1947; Hanley &
    McNeil 1982); tied scores share their mean rank, i.e. count one half. A class whose truth has only
    positives or only negatives has no AUC: NaN.
    """
    scores = check_probabilities(probabilities, n_classes)
    actual = as_indicator(truth, n_classes)
    if actual.shape[0] != scores.shape[0]:
        raise MetricInputError(f"truth: has {actual.shape[0]} samples, the probabilities have {scores.shape[0]}")
    ranks = rankdata(scores, axis=0)
    positives = actual.sum(axis=0).astype(float)
    negatives = actual.shape[0] - positives
    rank_sum = np.where(actual, ranks, 0.0).sum(axis=0)
    u_statistic = rank_sum - positives * (positives + 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((positives > 0) & (negatives > 0), u_statistic / (positives * negatives), np.nan)


@dataclass(frozen=True, eq=False)
class ModelPerformance:
    """A row of the paper's Table 1: thresholded F1/precision/recall and AUC, per class and averaged.

    ``auc`` and ``auc_std`` skip classes without an AUC (NaN).
    """

    metrics: MultiLabelMetrics
    per_class_auc: np.ndarray
    auc: float
    auc_std: float
    threshold: float


def model_performance(
    probabilities: Any, truth: Any, n_classes: int, *, threshold: float = 0.5, zero_division: float = 0.0
) -> ModelPerformance:
    """Table 1 figures of a model from its probabilities; a probability at or above ``threshold`` is positive."""
    scores = check_probabilities(probabilities, n_classes)
    if not 0.0 < float(threshold) < 1.0:
        raise MetricInputError(f"threshold: expected a value strictly between 0 and 1, got {threshold!r}")
    metrics = multilabel_metrics(scores >= threshold, truth, n_classes, zero_division=zero_division)
    per_class_auc = auc_per_class(scores, truth, n_classes)
    auc_spread = spread_over_classes(per_class_auc)
    return ModelPerformance(
        metrics=metrics,
        per_class_auc=per_class_auc,
        auc=auc_spread.mean,
        auc_std=auc_spread.std,
        threshold=float(threshold),
    )
