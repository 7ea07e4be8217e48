"""Each reader with the machine: the change in accuracy, the cases helped and harmed, and a verdict.

``reader_differences`` is the fixed-readers analysis of each reader's difference between two
modalities, for any jackknife FOM (the tests reproduce MRMCaov's reader-specific AUC intervals of
the Van Dyke data); ``reader_changes`` applies it to each reader's accuracy aided against unaided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri
from scipy.stats import binom

from analysis.assistance import AssistedReadings, check_level, optional
from analysis.mrmc import JackknifeFOM
from analysis.reader_arrays import jsonable
from models_zoo.classification_figures import MetricInputError

HELPED = "helped"
HARMED = "harmed"
NO_DETECTABLE_CHANGE = "no detectable change"


@dataclass(frozen=True, eq=False)
class ReaderDifferences:
    """Each reader's difference of FOMs (modality 0 − modality 1) with readers fixed, arrays ``(n_readers,)``.

    ``std_error`` is the jackknife standard error of the reader's difference over the cases it read,
    ``z`` = difference / std_error, ``p_value`` two-sided normal, the interval normal at ``level``.
    """

    difference: np.ndarray
    std_error: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_cases: np.ndarray
    level: float


def reader_differences(foms: JackknifeFOM, *, level: float = 0.95) -> ReaderDifferences:
    """Reader-specific tests and intervals of the difference of two modalities, readers fixed.

    As MRMCaov's "Reader-specific 95% CIs and tests" of the fixed-readers analysis (Smith & Hillis;
    the tests reproduce its Van Dyke values): the jackknife over a reader's ``n`` cases of the
    difference ``d``, Var = (n − 1)/n · Σ_k (d(k) − d̄)², with normal-theory p-value and interval.
    ``foms`` are ``(2, n_readers)`` with jackknife ``(2, n_readers, n_cases)``; a NaN jackknife
    value marks a case outside that reader's sample (in both modalities alike). A reader with fewer
    than two cases gets NaN.
    """
    level = check_level(level)
    fom, jackknife = np.asarray(foms.fom, dtype=float), np.asarray(foms.jackknife, dtype=float)
    if fom.ndim != 2 or fom.shape[0] != 2 or jackknife.shape != fom.shape + (jackknife.shape[-1],):
        raise MetricInputError(
            f"foms: expected fom (2, n_readers) and jackknife (2, n_readers, n_cases), got {fom.shape} and "
            f"{jackknife.shape}"
        )
    read = ~np.isnan(jackknife)
    if (read[0] != read[1]).any():
        raise MetricInputError("foms: the two modalities' jackknife values must cover the same cases")
    n = read[0].sum(axis=1)
    differences = np.where(read[0], jackknife[0] - jackknife[1], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = differences.sum(axis=1) / n
        deviations = np.where(read[0], differences - mean[:, np.newaxis], 0.0)
        variance = np.where(n >= 2, (n - 1) / n * np.sum(deviations**2, axis=1), np.nan)
        std_error = np.sqrt(variance)
        difference = fom[0] - fom[1]
        z = difference / std_error
    half_width = ndtri((1 + level) / 2) * std_error
    return ReaderDifferences(
        difference=difference,
        std_error=std_error,
        z=z,
        p_value=2 * ndtr(-np.abs(z)),
        ci_low=difference - half_width,
        ci_high=difference + half_width,
        n_cases=n,
        level=level,
    )


def exact_mcnemar_p(helped: np.ndarray, harmed: np.ndarray) -> np.ndarray:
    """Two-sided exact McNemar p-values of discordant counts, element-wise: the binomial test of
    min(b, c) among b + c at one half (McNemar 1947), as statsmodels' ``mcnemar(exact=True)``."""
    helped, harmed = np.asarray(helped), np.asarray(harmed)
    return np.minimum(1.0, 2 * binom.cdf(np.minimum(helped, harmed), helped + harmed, 0.5))


@dataclass(frozen=True)
class ReaderChange:
    """One reader unaided and aided on the cases read both ways (``n_cases``).

    ``helped`` counts cases wrong unaided and right aided, ``harmed`` the reverse; ``p_value`` is
    McNemar's exact test of the two; ``ci_low``, ``ci_high`` the fixed-reader jackknife interval of
    ``change`` (aided − unaided accuracy). ``verdict``: ``helped`` when the interval lies above 0,
    ``harmed`` below, else ``no detectable change``; ``None`` (with the interval) below two cases.
    """

    reader: str
    cohort: str
    n_cases: int
    unaided_accuracy: float | None
    aided_accuracy: float | None
    change: float | None
    helped: int
    harmed: int
    p_value: float
    std_error: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str | None


@dataclass(frozen=True)
class ReaderChanges:
    """Every reader's ``ReaderChange``, in the readers' order, at confidence ``level``."""

    rows: tuple[ReaderChange, ...]
    level: float

    @property
    def caveat(self) -> str:
        """Why a reader marked helped or harmed may be so by chance: one interval per reader."""
        n = len(self.rows)
        expected = (1 - self.level) * n
        return (
            f"Each reader's {self.level:.0%} interval is computed on its own: among {n} readers whose accuracy "
            f"did not change at all, about {expected:.2g} would be marked helped or harmed by chance alone. "
            "Read a single reader's verdict as a lead to look at, not as a finding."
        )

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"rows": [asdict(row) for row in self.rows], "level": self.level, "caveat": self.caveat})


def _verdict(n: int, low: float, high: float) -> str | None:
    if n < 2 or math.isnan(low):
        return None
    return HELPED if low > 0 else HARMED if high < 0 else NO_DETECTABLE_CHANGE


def reader_changes(readings: AssistedReadings, *, level: float = 0.95) -> ReaderChanges:
    """Each reader's accuracy unaided and aided, the cases helped and harmed, and the change's interval.

    The interval is ``reader_differences`` on each reader's accuracy jackknife over the cases it read
    both ways (leaving case k out of a reader's n: (correct − correct_k) / (n − 1)); for accuracy it
    equals the paired standard error sd(d) / √n of the per-case differences d. The p-value is
    McNemar's exact (binomial) test of helped against harmed.
    """
    level = check_level(level)
    paired = readings.paired
    unaided = (readings.unaided == readings.truth) & paired
    aided = (readings.aided == readings.truth) & paired
    n = paired.sum(axis=1)
    correct = np.stack([aided.sum(axis=1), unaided.sum(axis=1)])
    with np.errstate(divide="ignore", invalid="ignore"):
        fom = correct / n
        left_out = (correct[:, :, np.newaxis] - np.stack([aided, unaided])) / (n[:, np.newaxis] - 1)
    jackknife = np.where(paired & (n[:, np.newaxis] >= 2), left_out, np.nan)
    differences = reader_differences(JackknifeFOM(fom, jackknife), level=level)
    helped = (aided & ~unaided).sum(axis=1)
    harmed = (unaided & ~aided).sum(axis=1)
    p_values = exact_mcnemar_p(helped, harmed)
    rows = tuple(
        ReaderChange(
            reader=readings.readers[j],
            cohort=readings.reader_cohorts[j],
            n_cases=int(n[j]),
            unaided_accuracy=optional(fom[1, j]),
            aided_accuracy=optional(fom[0, j]),
            change=optional(differences.difference[j]),
            helped=int(helped[j]),
            harmed=int(harmed[j]),
            p_value=float(p_values[j]),
            std_error=optional(differences.std_error[j]),
            ci_low=optional(differences.ci_low[j]),
            ci_high=optional(differences.ci_high[j]),
            verdict=_verdict(int(n[j]), float(differences.ci_low[j]), float(differences.ci_high[j])),
        )
        for j in range(readings.n_readers)
    )
    return ReaderChanges(rows, level)
