"""Biases the paper's discussion (section 5) worried about, measured: anchoring on the training
examples a reader looked at, consistency within a reader, and reading time against correctness.

Arrays, no database (conventions of ``analysis.reader_arrays``): answers ``(n_readers, n_samples)`` with
-1 for no answer, truth ``(n_samples,)``.

- **Anchoring.** ``looked_up[r, s]`` says whether reader ``r`` had opened the gallery page of sample
  ``s``'s true class before answering it. Each reader's accuracy on the cases of classes they had looked
  up and on the others, and the difference; across the readers who have cases of both kinds, the mean
  difference with a t interval and the two-sided p-value of the one-sample t-test (readers random).
  An effect says that looking a class up goes with answering it right (or wrong); it does not say which
  causes which: readers look up the classes they find hard.
- **Test-retest.** Cases shown twice to the same reader, far apart in their order and not marked as
  repeats: Cohen's kappa between the first and the second reading (Cohen 1960), per reader, beside
  their accuracy on the first and on the second reading; per cohort, the mean kappa of its readers.
- **Reading time.** Active seconds on a case against whether the answer was right: per cohort, the
  answered cases split into quartiles of time (of that cohort's times), with the accuracy and the median
  seconds of each quartile, and Spearman's rank correlation of time with correctness with its p-value
  (as scipy's ``spearmanr`` computes them, from one sort of the times).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import t as student_t

from analysis.agreement import cohens_kappa_rows
from analysis.intervals import check_level
from analysis.reader_arrays import NO_ANSWER, check_answers, jsonable
from models_zoo.classification_figures import MetricInputError, check_truth

TIME_QUARTILES = 4


@dataclass(frozen=True)
class ReaderAnchoring:
    reader: int
    n_looked_up: int
    n_not_looked_up: int
    accuracy_looked_up: float  # NaN without such cases
    accuracy_not_looked_up: float
    difference: float  # looked up minus not; NaN unless the reader has cases of both kinds


@dataclass(frozen=True)
class AnchoringEffect:
    """The mean over readers of their difference in accuracy (looked up minus not looked up)."""

    n_readers: int
    mean_difference: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float
    level: float


@dataclass(frozen=True, eq=False)
class AnchoringResult:
    readers: tuple[ReaderAnchoring, ...]
    effect: AnchoringEffect

    def to_dict(self) -> dict:
        return jsonable({"readers": [asdict(row) for row in self.readers], "effect": asdict(self.effect)})


def _accuracies(correct: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Each row's fraction of ``correct`` among the places ``where`` marks (NaN for a row without any)."""
    count = where.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.sum(correct & where, axis=1) / count, np.nan)


def anchoring(answers, truth, looked_up, n_classes: int, *, level: float = 0.95) -> AnchoringResult:
    """Accuracy on cases of classes each reader had looked up in the gallery before answering, and not."""
    matrix = check_answers(answers, n_classes)
    labels = check_truth(truth, n_classes, n_samples=matrix.shape[1])
    looked = np.asarray(looked_up, dtype=bool)
    if looked.shape != matrix.shape:
        raise MetricInputError(f"looked_up: expected shape {matrix.shape}, got {looked.shape}")
    answered = matrix != NO_ANSWER
    correct = matrix == labels
    on, off = answered & looked, answered & ~looked
    accuracy_on, accuracy_off = _accuracies(correct, on), _accuracies(correct, off)
    differences = accuracy_on - accuracy_off
    readers = tuple(
        ReaderAnchoring(reader=r, n_looked_up=n_on, n_not_looked_up=n_off, accuracy_looked_up=a_on,
                        accuracy_not_looked_up=a_off, difference=d)
        for r, (n_on, n_off, a_on, a_off, d) in enumerate(zip(
            on.sum(axis=1).tolist(), off.sum(axis=1).tolist(), accuracy_on.tolist(), accuracy_off.tolist(),
            differences.tolist(),
        ))
    )
    return AnchoringResult(readers, _mean_with_t_interval(differences[~np.isnan(differences)], check_level(level)))


def effect_across_readers(differences, *, level: float = 0.95) -> AnchoringEffect:
    """The anchoring effect over any group of readers from their ``ReaderAnchoring.difference`` values
    (NaN ones, readers without cases of both kinds, left out): as ``anchoring`` computes it."""
    values = np.asarray(differences, dtype=float)
    return _mean_with_t_interval(values[~np.isnan(values)], check_level(level))


def _mean_with_t_interval(values: np.ndarray, level: float) -> AnchoringEffect:
    n = int(values.size)
    if n < 2:
        mean = float(values.mean()) if n else math.nan
        return AnchoringEffect(n, mean, math.nan, math.nan, math.nan, math.nan, level)
    mean, error = float(values.mean()), float(values.std(ddof=1) / math.sqrt(n))
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * error
    if error == 0:
        statistic, pvalue = (math.nan, math.nan) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        statistic = mean / error
        pvalue = float(2 * student_t.sf(abs(statistic), n - 1))
    return AnchoringEffect(n, mean, mean - half, mean + half, statistic, pvalue, level)


@dataclass(frozen=True)
class ReaderConsistency:
    reader: int
    n_repeats: int
    kappa: float  # first against second reading; NaN when undefined
    accuracy_first: float
    accuracy_second: float


def retest_agreement(first, second, truth, n_classes: int) -> tuple[ReaderConsistency, ...]:
    """Per reader, Cohen's kappa between their two readings of the repeated cases.

    ``first`` and ``second`` are ``(n_readers, n_repeats)`` answers to the same cases (-1: not read
    twice), ``truth`` the classes of those cases ``(n_repeats,)``.
    """
    a = check_answers(first, n_classes, name="first")
    b = check_answers(second, n_classes, name="second")
    if a.shape != b.shape:
        raise MetricInputError(f"second: expected shape {a.shape}, got {b.shape}")
    labels = check_truth(truth, n_classes, n_samples=a.shape[1])
    pairs = cohens_kappa_rows(a, b, n_classes)
    both = (a != NO_ANSWER) & (b != NO_ANSWER)
    first_right, second_right = _accuracies(a == labels, both), _accuracies(b == labels, both)
    return tuple(
        ReaderConsistency(reader=r, n_repeats=used, kappa=kappa, accuracy_first=one, accuracy_second=two)
        for r, (used, kappa, one, two) in enumerate(zip(
            pairs.n_samples.tolist(), pairs.kappa.tolist(), first_right.tolist(), second_right.tolist()
        ))
    )


@dataclass(frozen=True)
class TimeQuartile:
    quartile: int  # 1 = fastest
    n_cases: int
    median_seconds: float
    accuracy: float


@dataclass(frozen=True, eq=False)
class ReadingTime:
    """One cohort's (or model's) reading time against correctness."""

    quartiles: tuple[TimeQuartile, ...]
    spearman_rho: float
    pvalue: float
    n_cases: int

    def to_dict(self) -> dict:
        return jsonable({
            "quartiles": [asdict(row) for row in self.quartiles], "spearman_rho": self.spearman_rho,
            "pvalue": self.pvalue, "n_cases": self.n_cases,
        })


def reading_time(answers, truth, seconds, n_classes: int) -> ReadingTime:
    """Accuracy per quartile of active seconds, over the answered cases of all the given readers
    (cases with a NaN time are left out).

    Ranks, not values, split the quartiles, so that every quartile holds about a quarter of the
    cases however many share a time; cases tied in time across a quartile's edge are shared by the
    two quartiles in proportion (their correct answers too), so the result does not depend on the
    order of the cases. Spearman's rho ranks ties by their mean, as scipy's ``spearmanr`` does.
    """
    matrix = check_answers(answers, n_classes)
    labels = check_truth(truth, n_classes, n_samples=matrix.shape[1])
    times = np.asarray(seconds, dtype=float)
    if times.shape != matrix.shape:
        raise MetricInputError(f"seconds: expected shape {matrix.shape}, got {times.shape}")
    answered = (matrix != NO_ANSWER) & np.isfinite(times)
    spent = times[answered]
    if spent.size == 0:
        return ReadingTime((), math.nan, math.nan, 0)
    if spent.min() < 0:
        raise MetricInputError("seconds: expected times of 0 or more")
    np.add(spent, 0.0, out=spent)  # -0.0 is 0.0
    # One sort of values, not of indices (several times faster on millions of cases): a non-negative
    # double's bits order as an unsigned integer does, shifted up by one to carry in the lowest bit
    # whether the answer was right. Equal times form a group of consecutive places. In place: the
    # cases' times are the only copy this makes of the size of the answers.
    keys = spent.view(np.uint64)
    keys <<= np.uint64(1)
    np.bitwise_or(keys, (matrix == labels)[answered], out=keys)
    keys.sort()
    correct = np.empty(keys.size, dtype=np.int8)
    np.bitwise_and(keys, np.uint64(1), out=correct, casting="unsafe")
    keys >>= np.uint64(1)
    sorted_times = keys.view(np.float64)
    n = sorted_times.size
    starts = np.flatnonzero(np.r_[True, sorted_times[1:] != sorted_times[:-1]])
    lengths = np.diff(np.r_[starts, n])
    # Correct answers before each group of equal times, from one running count: a reduction per group
    # (``reduceat``) takes several times as long on millions of answers.
    running = np.cumsum(correct, dtype=np.int32 if n < 2**31 else np.int64)
    correct_before = np.r_[0, running[starts[1:] - 1], running[-1]].astype(np.int64)
    group_correct = np.diff(correct_before)

    def correct_up_to(place: int) -> float:
        """Correct answers among the first ``place`` cases, a tie group at the edge shared in proportion."""
        if place >= n:
            return float(correct_before[-1])
        group = int(np.searchsorted(starts, place, side="right")) - 1
        inside = place - starts[group]
        return float(correct_before[group] + group_correct[group] * inside / lengths[group])

    quartiles = []
    # The quartiles' sizes as ``np.array_split`` gives them: the first n % 4 one larger.
    sizes = [n // TIME_QUARTILES + (part < n % TIME_QUARTILES) for part in range(TIME_QUARTILES)]
    edges = np.r_[0, np.cumsum(sizes)]
    for number, (low, high) in enumerate(zip(edges[:-1].tolist(), edges[1:].tolist()), start=1):
        if high > low:
            accuracy = float((correct_up_to(high) - correct_up_to(low)) / (high - low))
            middle = (float(sorted_times[(low + high - 1) // 2]) + float(sorted_times[(low + high) // 2])) / 2
            quartiles.append(TimeQuartile(number, high - low, middle, accuracy))
    if lengths.size == 1 or group_correct.sum() in (0, n):
        rho, pvalue = math.nan, math.nan
    else:
        rho, pvalue = _spearman_of_groups(starts, lengths, group_correct, n)
    return ReadingTime(tuple(quartiles), rho, pvalue, int(n))


def _spearman_of_groups(starts, lengths, group_correct, n: int) -> tuple[float, float]:
    """Spearman's rho of the times with the 0/1 correctness, and its two-sided p-value, as scipy's
    ``spearmanr`` computes them (ties ranked by their mean, Student's t on n - 2 df), from the groups
    of equal times in order: the ranks of a 0/1 variable are a linear function of it, so rho is the
    Pearson correlation of the times' ranks with correctness."""
    ranks = starts + (lengths + 1) / 2.0 - (n + 1) / 2.0  # centred: the mean rank is (n + 1) / 2
    rate = group_correct.sum() / n
    covariance = float(np.dot(ranks, group_correct - lengths * rate))
    spread = float(np.dot(lengths, ranks**2)) * float(group_correct.sum() * (1 - rate))
    rho = min(1.0, max(-1.0, covariance / math.sqrt(spread)))
    dof = n - 2
    if dof <= 0:
        return rho, math.nan
    if abs(rho) == 1:
        return rho, 0.0
    statistic = rho * math.sqrt(max(dof / ((rho + 1.0) * (1.0 - rho)), 0.0))
    return rho, float(2 * student_t.sf(abs(statistic), dof))
