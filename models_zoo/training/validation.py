"""Validation figures of a run and the classes it predicts, from whole-image probabilities.

The figures come from ``models_zoo.classification_figures`` (one-vs-rest F1 per class, macro-F1 as the
plain mean over classes, AUC from the Mann-Whitney U statistic), as the paper's Table 1 computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models_zoo.classification_figures import auc_per_class, model_performance, multilabel_metrics, spread_over_classes

DEFAULT_THRESHOLD = 0.5


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


def fit_thresholds(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-class thresholds that maximise F1 on the given samples (the paper: the training set).

    ``probabilities`` and ``targets`` are ``(samples, classes)``; targets are 0/1. A class is
    predicted where its probability is at least its threshold. The threshold chosen for a class is
    one of its observed probabilities (the highest among equally good ones); a class without any
    positive sample gets a threshold just above its highest probability, so it is never predicted.
    Thresholds are kept strictly between 0 and 1, as a run stores them.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    targets = np.asarray(targets)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (samples, classes), got shape {probabilities.shape}")
    if targets.shape != probabilities.shape:
        raise ValueError(
            f"targets have shape {targets.shape} but probabilities have {probabilities.shape}"
        )
    if probabilities.shape[0] == 0:
        raise ValueError("probabilities hold no samples")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError("probabilities must be finite numbers between 0 and 1")
    if not np.all((targets == 0) | (targets == 1)):
        raise ValueError("targets must be 0 or 1")
    targets = targets.astype(np.float64)

    order = np.argsort(-probabilities, axis=0, kind="stable")
    sorted_probabilities = np.take_along_axis(probabilities, order, axis=0)
    true_positives = np.cumsum(np.take_along_axis(targets, order, axis=0), axis=0)
    predicted = np.arange(1, probabilities.shape[0] + 1)[:, None]
    positives = targets.sum(axis=0)
    # Predicting the top k as positive: F1 = 2 TP / (predicted positives + actual positives).
    f1 = 2 * true_positives / (predicted + positives)
    # Only a cut below the last of a run of tied probabilities is a threshold that can be set.
    is_cut = np.ones_like(f1, dtype=bool)
    is_cut[:-1] = sorted_probabilities[:-1] != sorted_probabilities[1:]
    best = np.argmax(np.where(is_cut, f1, -1.0), axis=0)
    thresholds = sorted_probabilities[best, np.arange(probabilities.shape[1])]
    never = positives == 0
    thresholds[never] = np.nextafter(probabilities[:, never].max(axis=0), np.inf)
    return np.clip(thresholds, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))
