"""Confidence intervals of Table 2: percentile bootstrap over samples (Efron & Tibshirani 1993, ch. 13)
for a reader's accuracy and macro F1, for a majority-vote ensemble's, and for a cohort's mean.

Each draws its resamples the same way, ``n_resamples`` rows of sample indices from ``seed``, so the
rows of a report computed with one seed are resampled alike.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.ensembles import MajorityVote
from analysis.reader_arrays import NO_ANSWER, check_answers, check_seed, jsonable
from analysis.reader_metrics import CHUNK_ELEMENTS, UNANSWERED_POLICIES, ReaderMetrics, confusion_counts
from models_zoo.classification_figures import MetricInputError, check_truth, ratio

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


def check_level(level: float) -> float:
    """A confidence level, strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level: expected a confidence level strictly between 0 and 1, got {level!r}")
    return float(level)


def _check_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise MetricInputError(f"n_resamples: expected a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def _labels(truth: Any, n_classes: int, n_samples: int) -> np.ndarray:
    labels = check_truth(truth, n_classes, n_samples=n_samples)
    if labels.ndim != 1:
        raise MetricInputError(f"truth: expected shape ({n_samples},), got {labels.shape}")
    return labels


def _intervals(
    estimates: tuple[float, float], accuracy: np.ndarray, f1: np.ndarray, level: float, n_resamples: int, seed: int
) -> BootstrapIntervals:
    """Percentile intervals of resampled accuracies and F1s; resamples where a figure is undefined
    (NaN, a reader with no answered sample in it) are left out of its percentiles."""
    tails = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        accuracy_low, accuracy_high = np.nanpercentile(accuracy, tails)
        f1_low, f1_high = np.nanpercentile(f1, tails)
    method = "percentile bootstrap"
    return BootstrapIntervals(
        accuracy=Interval(float(estimates[0]), float(accuracy_low), float(accuracy_high), level, method),
        f1=Interval(float(estimates[1]), float(f1_low), float(f1_high), level, method),
        n_resamples=int(n_resamples),
        seed=int(seed),
    )


def _resampled_counts(answers: np.ndarray, labels: np.ndarray, indices: np.ndarray, n_classes: int) -> np.ndarray:
    """The confusion counts ``(n_resamples, n_classes, n_classes + 1)`` of one reader in each resample
    (a row of sample ``indices``): how often each sample is drawn, times its (true class, answer) cell,
    as one matrix product. The counts are whole numbers, exact in float32."""
    n_resamples, n_samples = indices.shape
    rows = np.arange(n_resamples, dtype=np.int64)[:, np.newaxis] * n_samples
    weights = np.bincount((rows + indices).ravel(), minlength=n_resamples * n_samples)
    width = n_classes + 1
    cell_of = np.zeros((n_samples, n_classes * width), dtype=np.float32)
    cell_of[np.arange(n_samples), labels * width + np.where(answers < 0, n_classes, answers)] = 1.0
    counts = weights.reshape(n_resamples, n_samples).astype(np.float32) @ cell_of
    return np.rint(counts).astype(np.int64).reshape(n_resamples, n_classes, width)


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
    ``(n_resamples, n_samples)``; every resample's confusion counts come from one matrix product of how
    often each sample was drawn with its cell, and are scored at once as a row of
    ``analysis.reader_metrics.readers_metrics`` (unanswered samples count as wrong).
    """
    level = check_level(level)
    n_resamples = _check_resamples(n_resamples)
    matrix = check_answers(answers, n_classes)
    if matrix.shape[0] != 1:
        raise MetricInputError(f"answers: expected one reader's answers (n_samples,), got shape {matrix.shape}")
    labels = _labels(truth, n_classes, matrix.shape[1])
    point_counts = confusion_counts(matrix, labels, n_classes)
    point = ReaderMetrics.from_confusion_counts(point_counts, zero_division=zero_division)
    rng = np.random.default_rng(check_seed(seed))
    indices = rng.integers(0, labels.size, size=(n_resamples, labels.size))
    resampled = ReaderMetrics.from_confusion_counts(
        _resampled_counts(matrix[0], labels, indices, n_classes), zero_division=zero_division
    )
    return _intervals(
        (point.accuracy[0], point.f1[0]), resampled.accuracy, resampled.f1, level, n_resamples, seed
    )


def ensemble_bootstrap_intervals(
    answers: Any,
    truth: Any,
    n_classes: int,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    unanswered: str = "wrong",
    vote: MajorityVote | None = None,
) -> BootstrapIntervals:
    """Percentile bootstrap intervals of a majority-vote ensemble's accuracy and macro F1
    (``analysis.ensembles``), the tie-breaking inside each resample; ``vote`` as in
    ``majority_vote_ensemble``.

    Each resample draws samples with replacement (the same index matrix as ``bootstrap_intervals``
    with the same seed) and one tie-breaking draw of the ensemble (a tied sample drawn twice keeps its
    draw), so the interval holds both the sampling of cases and the randomness of the ties. The
    estimates are the figures averaged over those draws on all samples, near the ensemble's mean over
    its own repetitions. ``unanswered`` as in ``analysis.reader_metrics``: a sample nobody answered.
    """
    level = check_level(level)
    n_resamples = _check_resamples(n_resamples)
    matrix = check_answers(answers, n_classes)
    labels = _labels(truth, n_classes, matrix.shape[1])
    if unanswered not in UNANSWERED_POLICIES:
        raise MetricInputError(f"unanswered: expected one of {UNANSWERED_POLICIES}, got {unanswered!r}")
    if vote is None:
        vote = MajorityVote.of(matrix, n_classes)
    rng = np.random.default_rng(check_seed(seed))
    indices = rng.integers(0, labels.size, size=(n_resamples, labels.size))
    n_samples = labels.size
    width = n_classes + 1
    cells = n_classes * width
    full = np.empty((n_resamples, cells), dtype=np.int64)
    resampled = np.empty((n_resamples, cells), dtype=np.int64)
    per_chunk = max(1, CHUNK_ELEMENTS // n_samples)
    for start in range(0, n_resamples, per_chunk):
        stop = min(start + per_chunk, n_resamples)
        draws = vote.draw(rng, stop - start)
        rows = np.arange(stop - start, dtype=np.int64)[:, np.newaxis]
        # How often each sample is drawn in each resample: its weight in that resample's counts.
        weights = np.bincount((rows * n_samples + indices[start:stop]).ravel(), minlength=(stop - start) * n_samples)
        # Each (resample, true class, answer) cell, an unanswered sample in the last column.
        cell = rows * cells + labels * width + np.where(draws < 0, n_classes, draws)
        full[start:stop] = np.bincount(cell.ravel(), minlength=(stop - start) * cells).reshape(-1, cells)
        weighted = np.bincount(cell.ravel(), weights=weights, minlength=(stop - start) * cells)
        resampled[start:stop] = np.rint(weighted).astype(np.int64).reshape(-1, cells)
    full = full.reshape(n_resamples, n_classes, width)
    resampled = resampled.reshape(n_resamples, n_classes, width)
    point = ReaderMetrics.from_confusion_counts(full, unanswered=unanswered)
    figures = ReaderMetrics.from_confusion_counts(resampled, unanswered=unanswered)
    estimates = (float(np.nanmean(point.accuracy)), float(np.nanmean(point.f1)))
    return _intervals(estimates, figures.accuracy, figures.f1, level, n_resamples, seed)


def _indicator_rows(readers: np.ndarray, of_truth: np.ndarray, exclude: bool) -> np.ndarray:
    """What one matrix product with case weights turns into every reader's per-class counts: a row per
    reader and class of answers of that class, of correct answers of that class (true positives) and,
    when unanswered samples are left out, of answered samples of that true class (support); then, in
    that case, a row per reader of answered samples."""
    readers = readers.astype(np.int64)
    n_chunk, n_samples = readers.shape
    n_classes = of_truth.shape[0]
    answered = (readers != NO_ANSWER).astype(np.float32)
    rows_of = np.zeros((3 if exclude else 2, n_chunk, n_classes, n_samples), dtype=np.float32)
    reader_rows, sample_columns = np.nonzero(readers != NO_ANSWER)
    rows_of[0, reader_rows, readers[reader_rows, sample_columns], sample_columns] = 1.0
    rows_of[1] = rows_of[0] * of_truth
    if not exclude:
        return rows_of.reshape(-1, n_samples)
    rows_of[2] = answered[:, np.newaxis, :] * of_truth
    return np.vstack([rows_of.reshape(-1, n_samples), answered])


def cohort_mean_bootstrap_intervals(
    answers: Any,
    truth: Any,
    n_classes: int,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
    unanswered: str = "wrong",
) -> BootstrapIntervals:
    """Percentile bootstrap intervals of the mean over readers of accuracy and of macro F1 (a cohort's
    row of Table 2), resampling samples; the readers stay the same.

    A resample is a vector of case weights (how often each sample was drawn; the same draws as
    ``bootstrap_intervals`` with the same seed), so every reader's per-class counts in every resample
    are matrix products of one-hot answers with the weights: predicted ``[a = c]·w``, true positives
    ``[a = c ∧ t = c]·w``, support ``[t = c]·w`` (or, with ``unanswered="exclude"``, on each reader's
    answered samples), stacked into one product per chunk of readers. The counts are whole numbers, exact
    in float32 whatever the order of summation, so the result does not depend on the BLAS. Work grows
    as readers × samples × classes × resamples.
    """
    level = check_level(level)
    n_resamples = _check_resamples(n_resamples)
    matrix = check_answers(answers, n_classes)
    labels = _labels(truth, n_classes, matrix.shape[1])
    if unanswered not in UNANSWERED_POLICIES:
        raise MetricInputError(f"unanswered: expected one of {UNANSWERED_POLICIES}, got {unanswered!r}")
    n_readers, n_samples = matrix.shape
    rng = np.random.default_rng(check_seed(seed))
    indices = rng.integers(0, n_samples, size=(n_resamples, n_samples))
    point = ReaderMetrics.from_confusion_counts(
        confusion_counts(matrix, labels, n_classes), unanswered=unanswered
    )
    accuracy_sum = np.zeros(n_resamples)
    accuracy_defined = np.zeros(n_resamples, dtype=np.int64)
    f1_sum = np.zeros(n_resamples)
    readers_per_chunk = max(1, CHUNK_ELEMENTS // (3 * n_classes * n_samples))
    resamples_per_chunk = max(1, CHUNK_ELEMENTS // max(n_samples, 3 * min(readers_per_chunk, n_readers) * n_classes))
    of_truth = np.zeros((n_classes, n_samples), dtype=np.float32)
    of_truth[labels, np.arange(n_samples)] = 1.0
    exclude = unanswered == "exclude"
    blocks = 3 if exclude else 2
    for first in range(0, n_readers, readers_per_chunk):
        n_chunk = min(readers_per_chunk, n_readers - first)
        stacked = _indicator_rows(matrix[first : first + readers_per_chunk], of_truth, exclude)
        for start in range(0, n_resamples, resamples_per_chunk):
            stop = min(start + resamples_per_chunk, n_resamples)
            rows = np.arange(stop - start, dtype=np.int64)[:, np.newaxis] * n_samples
            drawn = np.bincount((rows + indices[start:stop]).ravel(), minlength=(stop - start) * n_samples)
            weights = drawn.reshape(stop - start, n_samples).T.astype(np.float32)
            counts = (stacked @ weights).astype(float)
            per_class = counts[: blocks * n_chunk * n_classes].reshape(blocks, n_chunk, n_classes, -1)
            predicted, hits = per_class[0], per_class[1]
            if exclude:
                support = per_class[2]
                scored = counts[blocks * n_chunk * n_classes :]
            else:
                support = (of_truth @ weights).astype(float)[np.newaxis]
                scored = np.full((1, stop - start), float(n_samples))
            f1 = ratio(2.0 * hits, predicted + support, 0.0).mean(axis=1)
            f1_sum[start:stop] += f1.sum(axis=0)
            reader_accuracy = ratio(hits.sum(axis=1), np.broadcast_to(scored, f1.shape), np.nan)
            defined = ~np.isnan(reader_accuracy)
            accuracy_sum[start:stop] += np.where(defined, reader_accuracy, 0.0).sum(axis=0)
            accuracy_defined[start:stop] += defined.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(accuracy_defined > 0, accuracy_sum / np.maximum(accuracy_defined, 1), np.nan)
    f1 = f1_sum / n_readers
    estimates = (float(np.mean(point.accuracy)), float(np.mean(point.f1)))
    return _intervals(estimates, accuracy, f1, level, n_resamples, seed)
