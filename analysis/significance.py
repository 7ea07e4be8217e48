"""Statistical tests of the paper: McNemar's test (Table 3), from the paired table of the model's and a
reader's correct answers, and the paired Wilcoxon test (Table 1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import wilcoxon
from statsmodels.stats.contingency_tables import mcnemar

from analysis.reader_arrays import jsonable
from models_zoo.classification_figures import MetricInputError

WILCOXON_ZERO_METHODS = ("wilcox", "pratt", "zsplit")
ALTERNATIVES = ("greater", "less", "two-sided")


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test of two readers on the same samples, with its 2x2 table (the paper's Table 3)."""

    both_correct: int
    only_model: int
    only_reader: int
    neither: int
    statistic: float
    pvalue: float
    method: str

    @property
    def n_samples(self) -> int:
        return self.both_correct + self.only_model + self.only_reader + self.neither

    @property
    def model_accuracy(self) -> float:
        return (self.both_correct + self.only_model) / self.n_samples

    @property
    def reader_accuracy(self) -> float:
        return (self.both_correct + self.only_reader) / self.n_samples

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {**asdict(self), "model_accuracy": self.model_accuracy, "reader_accuracy": self.reader_accuracy}
        )


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise MetricInputError(f"{name}: expected a count (a non-negative integer), got {value!r}")
    return int(value)


def mcnemar_from_counts(
    both_correct: int, only_model: int, only_reader: int, neither: int, *, exact: bool = False, correction: bool = True
) -> McNemarResult:
    """McNemar's test (McNemar 1947) from the four cells of the paired table.

    Default: chi-square with continuity correction, ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of
    freedom, the variant that reproduces the paper's Table 3 p-values (1.1e-6, 2.6e-9, 2.1e-10; the
    paper cuts to two digits, its 1.1e-6 is 1.18e-6);
    ``exact=True`` gives the exact binomial test (statistic ``min(b, c)``). Without discordant
    samples the two readers cannot differ: statistic 0, p-value 1.
    """
    cells = {
        "both_correct": _count(both_correct, "both_correct"),
        "only_model": _count(only_model, "only_model"),
        "only_reader": _count(only_reader, "only_reader"),
        "neither": _count(neither, "neither"),
    }
    if exact:
        method = "exact binomial"
    else:
        method = "chi-square with continuity correction" if correction else "chi-square"
    if cells["only_model"] + cells["only_reader"] == 0:
        return McNemarResult(**cells, statistic=0.0, pvalue=1.0, method=method)
    table = [[cells["both_correct"], cells["only_model"]], [cells["only_reader"], cells["neither"]]]
    result = mcnemar(table, exact=exact, correction=correction)
    return McNemarResult(**cells, statistic=float(result.statistic), pvalue=float(result.pvalue), method=method)


@dataclass(frozen=True, eq=False)
class PairedTable:
    """McNemar's paired 2x2 table of the model and a reader on the same samples: how many samples both
    got right, only the model, only the reader, neither. Each cell is a count for one reader, or an
    array of counts with one per row of the readers given (many readers, or an ensemble's repetitions).
    """

    both_correct: int | np.ndarray
    only_model: int | np.ndarray
    only_reader: int | np.ndarray
    neither: int | np.ndarray

    def cells(self) -> np.ndarray:
        """The four cells in that order along a last axis: ``(4,)`` for one reader, ``(n_readers, 4)``."""
        return np.stack([self.both_correct, self.only_model, self.only_reader, self.neither], axis=-1)


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
        only_model=np.sum(counted & model & ~reader, axis=-1),
        only_reader=np.sum(counted & ~model & reader, axis=-1),
        neither=np.sum(counted & ~model & ~reader, axis=-1),
    )


def mcnemar_each(tables: PairedTable, *, exact: bool = False, correction: bool = True) -> tuple[McNemarResult, ...]:
    """``mcnemar_from_counts`` of each reader's table of ``tables``, in their order.

    Readers share few distinct tables (an ensemble's repetitions, people of equal skill), so each
    distinct table is tested once.
    """
    cells = tables.cells().reshape(-1, 4)
    distinct, which = np.unique(cells, axis=0, return_inverse=True)
    tests = [mcnemar_from_counts(*map(int, row), exact=exact, correction=correction) for row in distinct]
    return tuple(tests[i] for i in which.ravel())


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

