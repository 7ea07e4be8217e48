"""Statistical tests of the paper: McNemar's test (Table 3), from the paired table of the model's and a
reader's correct answers, and the paired Wilcoxon test (Table 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import binom, chi2, wilcoxon

from analysis.reader_arrays import jsonable
from models_zoo.classification_figures import MetricInputError

WILCOXON_ZERO_METHODS = ("wilcox", "pratt", "zsplit")
ALTERNATIVES = ("greater", "less", "two-sided")


CELLS = ("both_correct", "model_only", "reader_only", "both_wrong")


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of two readers on the same samples, with its 2x2 table (the paper's Table 3):
    the samples both got right, only the model, only the reader, and neither."""

    both_correct: int
    model_only: int
    reader_only: int
    both_wrong: int
    statistic: float
    pvalue: float
    method: str

    @property
    def n_samples(self) -> int:
        return self.both_correct + self.model_only + self.reader_only + self.both_wrong

    @property
    def model_accuracy(self) -> float:
        return (self.both_correct + self.model_only) / self.n_samples

    @property
    def reader_accuracy(self) -> float:
        return (self.both_correct + self.reader_only) / self.n_samples

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {**asdict(self), "model_accuracy": self.model_accuracy, "reader_accuracy": self.reader_accuracy}
        )


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise MetricInputError(f"{name}: expected a count (a non-negative integer), got {value!r}")
    return int(value)


def _method(exact: bool, correction: bool) -> str:
    if exact:
        return "exact binomial"
    return "chi-square with continuity correction" if correction else "chi-square"


def _mcnemar_of_discordant(
    model_only: np.ndarray, reader_only: np.ndarray, exact: bool, correction: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Statistics and p-values of McNemar's test (McNemar 1947) for arrays of discordant counts
    ``b`` (model only) and ``c`` (reader only), as statsmodels' ``mcnemar`` computes them for one
    table: chi-square ``(|b − c| − 1)² / (b + c)`` on 1 df (without the −1 when ``correction`` is
    off), or the exact two-sided binomial test, statistic ``min(b, c)``, p = min(1, 2·P[X ≤ min(b, c)])
    for X ~ Binomial(b + c, 1/2). Without discordant samples: statistic 0, p-value 1."""
    b, c = model_only.astype(float), reader_only.astype(float)
    discordant = b + c
    if exact:
        statistic = np.minimum(b, c)
        pvalue = np.minimum(1.0, 2.0 * binom.cdf(statistic, discordant, 0.5))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic = (np.abs(b - c) - (1.0 if correction else 0.0)) ** 2 / discordant
        pvalue = chi2.sf(statistic, 1)
    none = discordant == 0
    return np.where(none, 0.0, statistic), np.where(none, 1.0, pvalue)


def mcnemar_from_counts(
    both_correct: int, model_only: int, reader_only: int, both_wrong: int, *, exact: bool = False, correction: bool = True
) -> McNemarResult:
    """McNemar's test (McNemar 1947) from the four cells of the paired table.

    Default: chi-square with continuity correction, ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of
    freedom, the variant that reproduces the paper's Table 3 p-values (1.1e-6, 2.6e-9, 2.1e-10; the
    paper cuts to two digits, its 1.1e-6 is 1.18e-6);
    ``exact=True`` gives the exact binomial test (statistic ``min(b, c)``). Without discordant
    samples the two readers cannot differ: statistic 0, p-value 1.
    """
    cells = dict(zip(CELLS, (_count(value, name) for value, name in zip(
        (both_correct, model_only, reader_only, both_wrong), CELLS
    ))))
    return mcnemar_each(PairedTable(**cells), exact=exact, correction=correction)[0]


@dataclass(frozen=True, eq=False)
class PairedTable:
    """McNemar's paired 2x2 table of the model and a reader on the same samples: how many samples both
    got right, only the model, only the reader, neither. Each cell is a count for one reader, or an
    array of counts with one per row of the readers given (many readers, or an ensemble's repetitions).
    """

    both_correct: int | np.ndarray
    model_only: int | np.ndarray
    reader_only: int | np.ndarray
    both_wrong: int | np.ndarray

    def cells(self) -> np.ndarray:
        """The four cells in that order along a last axis: ``(4,)`` for one reader, ``(n_readers, 4)``."""
        return np.stack([self.both_correct, self.model_only, self.reader_only, self.both_wrong], axis=-1)


def paired_table(model_correct: Any, reader_correct: Any, *, where: Any = None) -> PairedTable:
    """The paired table from whether the model and the reader got each sample right.

    ``model_correct`` is ``(n_samples,)``; ``reader_correct`` is ``(n_samples,)`` or ``(n_readers,
    n_samples)``, for many readers at once. ``where`` (shaped like ``reader_correct``) marks the
    samples to count, e.g. those both answered; by default all are counted, so an unanswered sample
    counts as wrong.
    """
    model = np.asarray(model_correct, dtype=bool)
    reader = np.asarray(reader_correct, dtype=bool)
    if model.ndim != 1 or reader.shape[-1:] != model.shape:
        raise MetricInputError(
            "model_correct, reader_correct: expected shapes (n_samples,) and (..., n_samples), "
            f"got {model.shape} and {reader.shape}"
        )
    counted = np.ones(reader.shape, dtype=bool) if where is None else np.asarray(where, dtype=bool)
    return PairedTable(
        both_correct=np.sum(counted & model & reader, axis=-1),
        model_only=np.sum(counted & model & ~reader, axis=-1),
        reader_only=np.sum(counted & ~model & reader, axis=-1),
        both_wrong=np.sum(counted & ~model & ~reader, axis=-1),
    )


def mcnemar_each(tables: PairedTable, *, exact: bool = False, correction: bool = True) -> tuple[McNemarResult, ...]:
    """McNemar's test of each reader's table of ``tables``, in their order, all at once (the same
    figures as ``mcnemar_from_counts`` of each table alone)."""
    cells = tables.cells().reshape(-1, 4).astype(np.int64)
    statistic, pvalue = _mcnemar_of_discordant(cells[:, 1], cells[:, 2], exact, correction)
    method = _method(exact, correction)
    return tuple(
        McNemarResult(*row, statistic=s, pvalue=p, method=method)
        for row, s, p in zip(cells.tolist(), statistic.tolist(), pvalue.tolist())
    )


@dataclass(frozen=True)
class WilcoxonResult:
    """Paired Wilcoxon signed-rank test of two models across classes (the paper's Table 1 p-values)."""

    statistic: float
    pvalue: float
    n_pairs: int
    method: str
    alternative: str
    zero_method: str

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def _per_class_values(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise MetricInputError(f"{name}: expected a non-empty 1-D array of per-class values, got shape {array.shape}")
    if not np.isfinite(array).all():
        where = int(np.flatnonzero(~np.isfinite(array))[0])
        raise MetricInputError(f"{name}[{where}] = {array[where]} is not a finite number")
    return array


def wilcoxon_signed_rank(
    first: Any,
    second: Any,
    *,
    alternative: str = "greater",
    exact: bool = False,
    zero_method: str = "wilcox",
    first_name: str = "first",
    second_name: str = "second",
) -> WilcoxonResult:
    """One-sided (by default) paired Wilcoxon signed-rank test (Wilcoxon 1945) of ``first`` > ``second``.

    Default: the normal approximation without continuity correction, which reproduces the paper's
    Table 1 p-values (0.0232, 0.0434, 0.0009, 0.0007, 0.0007) from its Table 7; ``exact=True`` uses
    the exact null distribution. Tied absolute differences share their mean rank (and the variance is
    corrected for ties). Zero differences are dropped (``zero_method="wilcox"``, scipy's and R's
    default); Table 7 has none, so the paper does not decide between this and ``"pratt"`` or
    ``"zsplit"``. If every difference is zero the test has nothing to rank: statistic 0, p-value 1.
    """
    a = _per_class_values(first, first_name)
    b = _per_class_values(second, second_name)
    if a.shape != b.shape:
        raise MetricInputError(f"{second_name}: has {b.size} classes, {first_name} has {a.size}")
    if alternative not in ALTERNATIVES:
        raise MetricInputError(f"alternative: expected one of {ALTERNATIVES}, got {alternative!r}")
    if zero_method not in WILCOXON_ZERO_METHODS:
        raise MetricInputError(f"zero_method: expected one of {WILCOXON_ZERO_METHODS}, got {zero_method!r}")
    method = "exact" if exact else "normal approximation without continuity correction"
    if np.all(a == b):
        return WilcoxonResult(0.0, 1.0, int(a.size), method, alternative, zero_method)
    result = wilcoxon(
        a,
        b,
        zero_method=zero_method,
        correction=False,
        alternative=alternative,
        method="exact" if exact else "approx",
    )
    return WilcoxonResult(float(result.statistic), float(result.pvalue), int(a.size), method, alternative, zero_method)


def wilcoxon_best_against_others(
    per_class_f1: Mapping[str, Any], *, best: str | None = None, exact: bool = False, zero_method: str = "wilcox"
) -> dict[str, WilcoxonResult]:
    """The best model's per-class F1 against each other model's, one-sided "greater" (Table 1).

    ``per_class_f1`` maps a model's name to its per-class F1; ``best`` defaults to the model with the
    highest mean F1. Returns one result per other model, in the mapping's order.
    """
    if len(per_class_f1) < 2:
        raise MetricInputError(f"per_class_f1: expected at least two models, got {len(per_class_f1)}")
    values = {name: _per_class_values(f1, f"per_class_f1[{name!r}]") for name, f1 in per_class_f1.items()}
    if best is None:
        best = max(values, key=lambda name: float(np.mean(values[name])))
    elif best not in values:
        raise MetricInputError(f"best: {best!r} is not one of the models {list(values)}")
    return {
        name: wilcoxon_signed_rank(
            values[best],
            other,
            exact=exact,
            zero_method=zero_method,
            first_name=f"per_class_f1[{best!r}]",
            second_name=f"per_class_f1[{name!r}]",
        )
        for name, other in values.items()
        if name != best
    }

