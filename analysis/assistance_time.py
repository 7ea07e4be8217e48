"""Reading time unaided against aided, and a crossover's period and sequence effects on accuracy.

Both treat readers as the units, as the readers are what a claim generalises over: each reader gives
one figure (a median of seconds, an accuracy), and the tests compare those figures across readers.
Seconds are ``(n_readers, n_cases)`` floats, NaN where a reading was not timed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import t as student_t
from scipy.stats import wilcoxon

from analysis.assistance import AssistedReadings, check_level, rate
from analysis.reader_arrays import NO_ANSWER
from models_zoo.classification_figures import MetricInputError

WILCOXON_OF_READER_MEDIANS = (
    "Wilcoxon signed-rank test, two-sided, of each reader's difference of median seconds (scipy: exact up to "
    "50 readers without ties or zero differences, every sign flip up to 13 readers with them, else the normal "
    "approximation; readers whose medians are equal left out)"
)


def _seconds(values: Any, readings: AssistedReadings, name: str) -> np.ndarray:
    seconds = np.asarray(values, dtype=float)
    if seconds.shape != readings.unaided.shape:
        raise MetricInputError(f"{name}: expected shape {readings.unaided.shape}, got {seconds.shape}")
    if (seconds < 0).any() or np.isinf(seconds).any():
        where = tuple(int(i) for i in np.argwhere((seconds < 0) | np.isinf(seconds))[0])
        raise MetricInputError(f"{name}{list(where)} = {seconds[where]}: expected seconds of 0 or more, NaN if untimed")
    return seconds


@dataclass(frozen=True)
class PairedSeconds:
    """Seconds of two kinds of readings compared within readers, in a cohort (``None``: all readers).

    ``median_first`` and ``median_second`` are medians of the pooled readings (``n_first``,
    ``n_second``); the test compares each reader's median of the second kind with their median of
    the first, over the ``n_readers`` readers with readings of both kinds (``test`` says which);
    ``median_difference`` is the median of those per-reader differences (second − first).
    ``p_value`` is ``None`` when no reader's medians differ.
    """

    cohort: str | None
    n_readers: int
    n_first: int
    n_second: int
    median_first: float | None
    median_second: float | None
    median_difference: float | None
    statistic: float | None
    p_value: float | None
    test: str


def _reader_medians(seconds: np.ndarray) -> np.ndarray:
    """Each row's median of its non-NaN values, NaN for a row without any: one sort of the matrix (NaN
    sorts last), then the middle one or two of each row's ``n`` values."""
    ordered = np.sort(seconds, axis=1)
    n = np.count_nonzero(~np.isnan(seconds), axis=1)
    rows = np.arange(seconds.shape[0])
    low, high = ordered[rows, np.maximum(n - 1, 0) // 2], ordered[rows, n // 2]
    return np.where(n > 0, (low + high) / 2, np.nan)


def _paired_seconds(readings: AssistedReadings, first: np.ndarray, second: np.ndarray) -> tuple[PairedSeconds, ...]:
    """``first`` against ``second`` (seconds, NaN where a reading is not of that kind) per cohort and over
    all readers; each reader's medians computed once for every group."""
    medians = (_reader_medians(first), _reader_medians(second))
    return tuple(
        _group_seconds(cohort, readings.members(cohort), first, second, medians) for cohort in readings.groups()
    )


def _group_seconds(
    cohort: str | None,
    members: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    medians: tuple[np.ndarray, np.ndarray],
) -> PairedSeconds:
    reader_first, reader_second = medians[0][members], medians[1][members]
    both = ~np.isnan(reader_first) & ~np.isnan(reader_second)
    differences = reader_second[both] - reader_first[both]
    statistic = p_value = None
    if np.count_nonzero(differences):
        result = wilcoxon(differences)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    pooled = []
    for values in (first, second):
        chosen = values[members]  # one copy of the group's rows, not two
        pooled.append(chosen[~np.isnan(chosen)])
    return PairedSeconds(
        cohort=cohort,
        n_readers=int(both.sum()),
        n_first=int(pooled[0].size),
        n_second=int(pooled[1].size),
        median_first=float(np.median(pooled[0])) if pooled[0].size else None,
        median_second=float(np.median(pooled[1])) if pooled[1].size else None,
        median_difference=float(np.median(differences)) if differences.size else None,
        statistic=statistic,
        p_value=p_value,
        test=WILCOXON_OF_READER_MEDIANS,
    )


@dataclass(frozen=True)
class AssistedReadingTime:
    """``arms``: seconds unaided (first) against aided (second) per cohort and over all readers;
    ``after_suggestion``: seconds after the suggestion appeared when the unaided answer agreed with it
    (first) against when it did not (second), or empty without those seconds."""

    arms: tuple[PairedSeconds, ...]
    after_suggestion: tuple[PairedSeconds, ...]


def assisted_reading_time(
    readings: AssistedReadings, unaided_seconds: Any, aided_seconds: Any, *, seconds_after_suggestion: Any = None
) -> AssistedReadingTime:
    """Reading time unaided against aided, and the time taken after the suggestion by agreement.

    ``unaided_seconds`` and ``aided_seconds`` time the two readings of each case (in a sequential
    design: the seconds before the suggestion appeared, and the whole aided reading or the seconds
    after it, as the caller chooses); ``seconds_after_suggestion``, when given, the seconds from the
    suggestion to the final answer, split by u = a against u ≠ a (Steiner et al. 2018 compare times
    the same way). Only answered readings count.
    """
    unaided = _seconds(unaided_seconds, readings, "unaided_seconds")
    aided = _seconds(aided_seconds, readings, "aided_seconds")
    unaided = np.where(readings.unaided != NO_ANSWER, unaided, np.nan)
    aided = np.where(readings.aided != NO_ANSWER, aided, np.nan)
    arms = _paired_seconds(readings, unaided, aided)
    after = ()
    if seconds_after_suggestion is not None:
        seconds = _seconds(seconds_after_suggestion, readings, "seconds_after_suggestion")
        seconds = np.where(readings.with_suggestion, seconds, np.nan)
        agreed = readings.unaided == readings.suggestion
        after = _paired_seconds(readings, np.where(agreed, seconds, np.nan), np.where(~agreed, seconds, np.nan))
    return AssistedReadingTime(arms, after)


@dataclass(frozen=True)
class ReaderEffect:
    """An effect estimated over readers with its t test and interval; NaN (JSON null) with too few readers."""

    estimate: float
    std_error: float
    df: float
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float
    n_readers: int
    level: float
    method: str


def _undefined(n: int, level: float, method: str, estimate: float = math.nan) -> ReaderEffect:
    return ReaderEffect(estimate, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, n, level, method)


def _t_effect(estimate: float, std_error: float, df: float, n: int, level: float, method: str) -> ReaderEffect:
    statistic = estimate / std_error
    half_width = float(student_t.ppf((1 + level) / 2, df)) * std_error
    return ReaderEffect(
        estimate=estimate,
        std_error=std_error,
        df=df,
        statistic=statistic,
        p_value=float(2 * student_t.sf(abs(statistic), df)),
        ci_low=estimate - half_width,
        ci_high=estimate + half_width,
        n_readers=n,
        level=level,
        method=method,
    )


def _one_sample(values: np.ndarray, level: float, method: str) -> ReaderEffect:
    """The mean of the readers' values, Student's t on n − 1 df; undefined below two readers or when
    every reader has the same value (no spread to test against)."""
    values = values[~np.isnan(values)]
    n = int(values.size)
    if n < 2 or np.ptp(values) == 0:
        return _undefined(n, level, method, float(values.mean()) if n else math.nan)
    return _t_effect(float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)), n - 1.0, n, level, method)


def _two_sample(first: np.ndarray, second: np.ndarray, level: float, method: str) -> ReaderEffect:
    """``second`` − ``first`` mean, Welch's t with the Welch–Satterthwaite df (Welch 1947)."""
    first, second = first[~np.isnan(first)], second[~np.isnan(second)]
    n = int(first.size + second.size)
    estimate = float(second.mean() - first.mean()) if first.size and second.size else math.nan
    if min(first.size, second.size) < 2 or (np.ptp(first) == 0 and np.ptp(second) == 0):
        return _undefined(n, level, method, estimate)
    parts = (first.var(ddof=1) / first.size, second.var(ddof=1) / second.size)
    df = sum(parts) ** 2 / (parts[0] ** 2 / (first.size - 1) + parts[1] ** 2 / (second.size - 1))
    return _t_effect(estimate, float(math.sqrt(sum(parts))), float(df), n, level, method)


PERIOD_METHOD = "session 2 − session 1 accuracy of each reader (mean of the two arms), one-sample t over readers"
SEQUENCE_METHOD = (
    "mean accuracy of the readers of the second sequence group − of the first (every reading), Welch's t "
    "(the carry-over test of the 2x2 crossover, Grizzle 1965; Jones & Kenward 2014, ch. 2)"
)
CARRYOVER_METHOD = (
    "aided − unaided accuracy of each reader in session 1 minus the same in session 2 (the modality-by-period "
    "interaction: memory of the first reading), one-sample t over readers"
)


@dataclass(frozen=True)
class CrossoverEffects:
    """A cohort's (``None``: all readers') crossover effects on accuracy.

    ``accuracy`` holds the mean over readers of each reader's accuracy per arm and session (keys
    ``unaided_session_1`` … ``aided_session_2``); ``period`` (session 2 − 1), ``sequence`` (group
    ``sequence_groups[1]`` − ``[0]``) and ``carryover`` (the aided effect in session 1 − in session 2)
    are tested over readers.
    """

    cohort: str | None
    n_readers: int
    sequence_groups: tuple[str, ...]
    accuracy: dict[str, float | None]
    period: ReaderEffect
    sequence: ReaderEffect
    carryover: ReaderEffect


def _sessions(values: Any, answers: np.ndarray, name: str) -> np.ndarray:
    sessions = np.asarray(values)
    if sessions.shape != answers.shape:
        raise MetricInputError(f"{name}: expected shape {answers.shape}, got {sessions.shape}")
    bad = (answers != NO_ANSWER) & ~np.isin(sessions, (1, 2))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MetricInputError(f"{name}{list(where)} = {sessions[where]}: an answered reading's session is 1 or 2")
    return sessions


def _cell_accuracies(readings: AssistedReadings, sessions: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """Each reader's accuracy per arm and session, ``unaided_session_1`` … ``aided_session_2``; NaN
    where a reader has no reading of that kind."""
    cell = {}
    for arm, answers, session in zip(("unaided", "aided"), (readings.unaided, readings.aided), sessions):
        correct = answers == readings.truth
        for number in (1, 2):
            read = (answers != NO_ANSWER) & (session == number)
            cell[f"{arm}_session_{number}"] = rate((correct & read).sum(axis=1), read.sum(axis=1))
    return cell


def _mean_over_readers(values: np.ndarray) -> float | None:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else None


def crossover_effects(
    readings: AssistedReadings,
    unaided_session: Any,
    aided_session: Any,
    sequence: Sequence[str],
    *,
    level: float = 0.95,
) -> tuple[CrossoverEffects, ...]:
    """Period, sequence and carry-over effects of a crossover on accuracy, per cohort and over all readers.

    ``unaided_session`` and ``aided_session`` give each reading's session (1 or 2; anything where
    unanswered), ``sequence`` each reader's sequence group (two groups, which read the case blocks'
    arms in opposite order). Each reader contributes an accuracy per arm and session; the effects are
    differences of those, tested across readers as in the analysis of a 2x2 crossover (Jones &
    Kenward 2014, ch. 2).
    """
    level = check_level(level)
    sessions = (
        _sessions(unaided_session, readings.unaided, "unaided_session"),
        _sessions(aided_session, readings.aided, "aided_session"),
    )
    groups = tuple(map(str, sequence))
    if len(groups) != readings.n_readers:
        raise MetricInputError(f"sequence: expected one group per reader ({readings.n_readers}), got {len(groups)}")
    names = tuple(sorted(set(groups)))
    if len(names) != 2:
        raise MetricInputError(f"sequence: a crossover has two sequence groups, got {len(names)}: {', '.join(names)}")
    in_second = np.array([group == names[1] for group in groups])
    cell = _cell_accuracies(readings, sessions)
    later = {arm: cell[f"{arm}_session_2"] - cell[f"{arm}_session_1"] for arm in ("unaided", "aided")}
    period = (later["unaided"] + later["aided"]) / 2
    aided_effect = {number: cell[f"aided_session_{number}"] - cell[f"unaided_session_{number}"] for number in (1, 2)}
    both_arms = np.concatenate([readings.unaided, readings.aided], axis=1)
    answered = both_arms != NO_ANSWER
    overall = rate(((both_arms == np.tile(readings.truth, 2)) & answered).sum(axis=1), answered.sum(axis=1))
    effects = []
    for cohort in readings.groups():
        members = readings.members(cohort)
        effects.append(
            CrossoverEffects(
                cohort=cohort,
                n_readers=int(members.sum()),
                sequence_groups=names,
                accuracy={key: _mean_over_readers(values[members]) for key, values in cell.items()},
                period=_one_sample(period[members], level, PERIOD_METHOD),
                sequence=_two_sample(
                    overall[members & ~in_second], overall[members & in_second], level, SEQUENCE_METHOD
                ),
                carryover=_one_sample((aided_effect[1] - aided_effect[2])[members], level, CARRYOVER_METHOD),
            )
        )
    return tuple(effects)
