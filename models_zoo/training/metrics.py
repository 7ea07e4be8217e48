"""Validation figures of a run and the classes it predicts, from whole-image probabilities.

The figures come from ``analysis.metrics`` (one-vs-rest F1 per class, macro-F1 as the plain mean
over classes, AUC from the Mann-Whitney U statistic), as the paper's Table 1 computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analysis.metrics import auc_per_class, model_performance, multilabel_metrics, spread_over_classes

DEFAULT_THRESHOLD = 0.5
# Candidate thresholds for per-class tuning: a grid fine enough for validation sets of thousands.
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass(frozen=True)
class ValidationMetrics:
    macro_f1: float
    per_class_f1: list[float]
    macro_auc: float | None  # None where no class has both positive and negative samples


def predicted_classes(
    probabilities: np.ndarray, single_class: bool, thresholds: Sequence[float] | None = None
) -> np.ndarray:
    """Boolean ``(n, num_classes)``: the argmax for single-class runs; otherwise every class at or
    over its threshold (0.5 unless tuned), or the argmax where none is, so each sample has a class."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    top = probabilities.argmax(axis=1)
    argmax = np.arange(probabilities.shape[1]) == top[:, np.newaxis]
    if single_class:
        return argmax
    cut = np.asarray(thresholds if thresholds is not None else DEFAULT_THRESHOLD, dtype=np.float64)
    over = probabilities >= cut
    return np.where(over.any(axis=1, keepdims=True), over, argmax)


def validation_metrics(probabilities: np.ndarray, targets: np.ndarray, single_class: bool) -> ValidationMetrics:
    """Per-class F1 at threshold 0.5 (argmax for single-class runs), macro-F1 and macro AUC.

    ``targets`` are multi-hot ``(n, num_classes)`` or, for single-class runs, class indices ``(n,)``.
    """
    num_classes = probabilities.shape[1]
    if not np.isfinite(probabilities).all():
        raise FloatingPointError("validation probabilities are not finite: the training diverged")
    if single_class:
        truth = np.asarray(targets, dtype=np.int64)
        scores = multilabel_metrics(predicted_classes(probabilities, True), truth, num_classes)
        auc = spread_over_classes(auc_per_class(probabilities, truth, num_classes)).mean
        per_class, macro = scores.per_class_f1, scores.f1
    else:
        performance = model_performance(probabilities, np.asarray(targets) > 0.5, num_classes)
        per_class, macro, auc = performance.metrics.per_class_f1, performance.metrics.f1, performance.auc
    return ValidationMetrics(
        macro_f1=float(macro),
        per_class_f1=[float(value) for value in per_class],
        macro_auc=None if math.isnan(auc) else float(auc),
    )


def tune_thresholds(probabilities: np.ndarray, targets: np.ndarray) -> list[float]:
    """Per class, the threshold of :data:`THRESHOLD_GRID` with the highest F1 on these samples
    (the lowest such, for stability); 0.5 for a class without positive samples."""
    truth = np.asarray(targets) > 0.5
    over = probabilities[:, :, np.newaxis] >= THRESHOLD_GRID  # (n, classes, grid)
    true_positives = (over & truth[:, :, np.newaxis]).sum(axis=0)
    denominator = over.sum(axis=0) + truth.sum(axis=0)[:, np.newaxis]
    f1 = np.where(denominator > 0, 2 * true_positives / np.maximum(denominator, 1), 0.0)
    best = THRESHOLD_GRID[f1.argmax(axis=1)]
    return [float(t) if truth[:, c].any() else DEFAULT_THRESHOLD for c, t in enumerate(best)]
