"""Confidence intervals for a reader's accuracy and macro F1: the percentile bootstrap (Table 2's intervals)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.metrics import ReaderMetrics, confusion_counts
from models_zoo.metrics import MetricInputError, check_answers, check_seed, check_truth, jsonable

DEFAULT_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval ``[low, high]`` at ``level``."""

    estimate: float
    low: float
    high: float
    level: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True)
class BootstrapIntervals:
    """Bootstrap intervals of accuracy and macro F1, from the same resamples."""

    accuracy: Interval
    f1: Interval
    n_resamples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "accuracy": self.accuracy.to_dict(),
                "f1": self.f1.to_dict(),
                "n_resamples": self.n_resamples,
                "seed": self.seed,
            }
        )


def _check_level(level: float) -> float:
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level: expected a confidence level strictly between 0 and 1, got {level!r}")
    return float(level)


def bootstrap_intervals(
    answers: Any,
    truth: Any,
    n_classes: int,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    zero_division: float = 0.0,
) -> BootstrapIntervals:
    """Percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) of one reader's accuracy and macro F1.

    Samples are drawn with replacement ``n_resamples`` times as one index matrix
    ``(n_resamples, n_samples)``; every resample is scored at once as a row of
    ``analysis.metrics.readers_metrics`` (unanswered samples count as wrong).
    """
    level = _check_level(level)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise MetricInputError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    matrix = check_answers(answers, n_classes)
    if matrix.shape[0] != 1:
        raise MetricInputError(f"answers: expected one reader's answers (n_samples,), got shape {matrix.shape}")
    labels = check_truth(truth, n_classes, n_samples=matrix.shape[1])
    if labels.ndim != 1:
        raise MetricInputError(f"truth: expected shape ({matrix.shape[1]},), got {labels.shape}")
    point_counts = confusion_counts(matrix, labels, n_classes)
    point = ReaderMetrics.from_confusion_counts(point_counts, zero_division=zero_division)
    rng = np.random.default_rng(check_seed(seed))
    indices = rng.integers(0, labels.size, size=(n_resamples, labels.size))
    resampled = ReaderMetrics.from_confusion_counts(
        confusion_counts(matrix[0][indices], labels[indices], n_classes), zero_division=zero_division
    )
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    accuracy_low, accuracy_high = np.percentile(resampled.accuracy, tails)
    f1_low, f1_high = np.percentile(resampled.f1, tails)
    method = "percentile bootstrap"
    return BootstrapIntervals(
        accuracy=Interval(float(point.accuracy[0]), float(accuracy_low), float(accuracy_high), level, method),
        f1=Interval(float(point.f1[0]), float(f1_low), float(f1_high), level, method),
        n_resamples=int(n_resamples),
        seed=int(seed),
    )
