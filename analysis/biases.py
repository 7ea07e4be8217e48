"""Biases the paper's discussion (section 5) worried about, measured: anchoring on the training
examples a reader looked at, consistency within a reader, and reading time against correctness.

Arrays, no database (conventions of ``models_zoo.metrics``): answers ``(n_readers, n_samples)`` with
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
  seconds of each quartile, and Spearman's rank correlation of time with correctness (its p-value from
  scipy's ``spearmanr``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import spearmanr, t as student_t

from analysis.agreement import cohens_kappa
from models_zoo.metrics import NO_ANSWER, MetricInputError, check_answers, check_truth, jsonable

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


def _accuracy(correct: np.ndarray, where: np.ndarray) -> float:
    count = int(where.sum())
    return float(correct[where].mean()) if count else math.nan


def anchoring(answers, truth, looked_up, n_classes: int, *, level: float = 0.95) -> AnchoringResult:
    """Accuracy on cases of classes each reader had looked up in the gallery before answering, and not."""
    matrix = check_answers(answers, n_classes)
    labels = check_truth(truth, n_classes, n_samples=matrix.shape[1])
    looked = np.asarray(looked_up, dtype=bool)
    if looked.shape != matrix.shape:
        raise MetricInputError(f"looked_up: expected shape {matrix.shape}, got {looked.shape}")
    answered = matrix != NO_ANSWER
    correct = matrix == labels
    readers = []
    for r in range(matrix.shape[0]):
        on, off = answered[r] & looked[r], answered[r] & ~looked[r]
        accuracy_on, accuracy_off = _accuracy(correct[r], on), _accuracy(correct[r], off)
        readers.append(ReaderAnchoring(
            reader=r, n_looked_up=int(on.sum()), n_not_looked_up=int(off.sum()),
            accuracy_looked_up=accuracy_on, accuracy_not_looked_up=accuracy_off,
            difference=accuracy_on - accuracy_off,
        ))
    differences = np.array([row.difference for row in readers if not math.isnan(row.difference)])
    return AnchoringResult(tuple(readers), _mean_with_t_interval(differences, level))


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
    rows = []
    for r in range(a.shape[0]):
        both = (a[r] != NO_ANSWER) & (b[r] != NO_ANSWER)
        kappa = cohens_kappa(a[r], b[r], n_classes).kappa if both.any() else math.nan
        rows.append(ReaderConsistency(
            reader=r, n_repeats=int(both.sum()), kappa=float(kappa),
            accuracy_first=_accuracy(a[r] == labels, both), accuracy_second=_accuracy(b[r] == labels, both),
        ))
    return tuple(rows)


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
    """Accuracy per quartile of active seconds, over the answered cases of all the given readers."""
    matrix = check_answers(answers, n_classes)
    labels = check_truth(truth, n_classes, n_samples=matrix.shape[1])
    times = np.asarray(seconds, dtype=float)
    if times.shape != matrix.shape:
        raise MetricInputError(f"seconds: expected shape {matrix.shape}, got {times.shape}")
    answered = (matrix != NO_ANSWER) & np.isfinite(times)
    correct = (matrix == labels)[answered].astype(float)
    spent = times[answered]
    if spent.size == 0:
        return ReadingTime((), math.nan, math.nan, 0)
    # Ranks, not values, split the quartiles, so that ties (many cases at one second) stay together
    # only as far as they must and every quartile holds about a quarter of the cases.
    order = np.argsort(spent, kind="stable")
    quartiles = []
    for number, part in enumerate(np.array_split(order, TIME_QUARTILES), start=1):
        if part.size:
            quartiles.append(TimeQuartile(number, int(part.size), float(np.median(spent[part])),
                                          float(correct[part].mean())))
    if np.ptp(spent) == 0 or np.ptp(correct) == 0:
        rho, pvalue = math.nan, math.nan
    else:
        rho, pvalue = (float(value) for value in spearmanr(spent, correct))
    return ReadingTime(tuple(quartiles), rho, pvalue, int(spent.size))
