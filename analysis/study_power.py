"""Power of a planned MRMC study from the OR variance components of a pilot (Hillis, Obuchowski & Berbaum 2011).

For the ORH test of two modalities with random readers and random cases, ``r`` readers and ``c``
cases, from a pilot of ``c*`` cases whose error (co)variances shrink as ``c*/c``::

    E = max(Var(TR), 0) + (c*/c)·[Var(error) − Cov1 + (r − 1)·max(Cov2 − Cov3, 0)]
    λ = (r / 2)·D² / E                                     (non-centrality, effect D)
    df2 = E² / {[max(Var(TR), 0) + (c*/c)·(Var(error) − Cov1 − max(Cov2 − Cov3, 0))]² / (r − 1)}
    power = P[F(1, df2; λ) > F_{1−α}(1, df2)]

(Hillis, Obuchowski & Berbaum 2011, Acad. Radiol. 18:129; the same formulas as RJafroc's
``SsPowerGivenJK``). A model against readers is the same design with the model as a second modality
read identically by every reader (Chakraborty 2017, ch. 22): ``PilotComponents.from_model_vs_readers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import f as f_distribution
from scipy.stats import ncf

from analysis.mrmc import ModelVsReaders, VarianceComponents
from models_zoo.classification_figures import MetricInputError


@dataclass(frozen=True)
class PilotComponents:
    """The OR components a power computation needs, and the pilot's number of cases ``n_cases``."""

    var_tr: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    n_cases: int

    @classmethod
    def from_components(cls, components: VarianceComponents) -> PilotComponents:
        return cls(
            var_tr=components.var_tr,
            var_error=components.var_error,
            cov1=components.cov1,
            cov2=components.cov2,
            cov3=components.cov3,
            n_cases=components.n_cases,
        )

    @classmethod
    def from_model_vs_readers(cls, result: ModelVsReaders) -> PilotComponents:
        """Components of the two-modality design equivalent to a model against readers.

        Replicating the model as every reader of a second modality halves each of the differences'
        components: Var(TR) = Var(R)/2, Var(error) − Cov1 = Var(error)/2, Cov2 − Cov3 = Cov2/2 of ψ.
        """
        components = result.components
        return cls(
            var_tr=components.var_r / 2,
            var_error=components.var_error / 2,
            cov1=0.0,
            cov2=components.cov2 / 2,
            cov3=0.0,
            n_cases=components.n_cases,
        )


@dataclass(frozen=True)
class DesignPower:
    """The power of the random-readers random-cases ORH test for one design."""

    n_readers: int
    n_cases: int
    effect: float
    alpha: float
    power: float
    noncentrality: float
    df2: float


def _check(effect: float, alpha: float) -> tuple[float, float]:
    if not math.isfinite(effect):
        raise MetricInputError(f"effect: expected a finite number, got {effect!r}")
    if not 0.0 < alpha < 1.0:
        raise MetricInputError(f"alpha: expected a level strictly between 0 and 1, got {alpha!r}")
    return float(effect), float(alpha)


def _design_sizes(values: Sequence[int] | np.ndarray, name: str, smallest: int) -> np.ndarray:
    sizes = np.asarray(values)
    if sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer) or (sizes < smallest).any():
        raise MetricInputError(f"{name}: expected integers of at least {smallest}, got {values!r}")
    return sizes


def power_table(
    pilot: PilotComponents,
    *,
    effect: float,
    readers: Sequence[int] | np.ndarray,
    cases: Sequence[int] | np.ndarray,
    alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power, non-centrality and df2 for every design, arrays ``(len(readers), len(cases))``."""
    effect, alpha = _check(effect, alpha)
    r = _design_sizes(readers, "readers", 2).astype(float)[:, np.newaxis]
    c = _design_sizes(cases, "cases", 2).astype(float)[np.newaxis, :]
    shrink = pilot.n_cases / c
    readers_apart = max(pilot.cov2 - pilot.cov3, 0.0)
    var_tr = max(pilot.var_tr, 0.0)
    error_term = var_tr + shrink * (pilot.var_error - pilot.cov1 + (r - 1) * readers_apart)
    interaction = var_tr + shrink * (pilot.var_error - pilot.cov1 - readers_apart)
    # A pilot without any variance leaves power undefined: NaN, not a warning.
    with np.errstate(divide="ignore", invalid="ignore"):
        noncentrality = r / 2 * effect**2 / error_term
        df2 = error_term**2 / (interaction**2 / (r - 1))
    critical = f_distribution.isf(alpha, 1, df2)
    # scipy's ncf.sf is wrong at a non-centrality of exactly 0 (no effect), where power is alpha.
    power = np.where(noncentrality > 0, ncf.sf(critical, 1, df2, noncentrality), f_distribution.sf(critical, 1, df2))
    return power, noncentrality, df2


def smallest_designs(
    pilot: PilotComponents,
    *,
    effect: float,
    target: float = 0.8,
    alpha: float = 0.05,
    readers: Sequence[int] | np.ndarray = range(2, 21),
    max_cases: int = 5000,
) -> list[DesignPower]:
    """For each number of readers, the fewest cases (up to ``max_cases``) whose power reaches ``target``.

    Reader counts that no number of cases brings to the target are left out: Var(TR) does not shrink
    with more cases, so it caps the power of a given number of readers.
    """
    if not 0.0 < target < 1.0:
        raise MetricInputError(f"target: expected a power strictly between 0 and 1, got {target!r}")
    cases = np.arange(2, int(max_cases) + 1)
    reader_counts = _design_sizes(list(readers), "readers", 2)
    power, noncentrality, df2 = power_table(pilot, effect=effect, readers=reader_counts, cases=cases, alpha=alpha)
    designs = []
    for row, n_readers in enumerate(reader_counts):
        reached = np.flatnonzero(power[row] >= target)
        if reached.size:
            first = reached[0]
            designs.append(
                DesignPower(
                    n_readers=int(n_readers),
                    n_cases=int(cases[first]),
                    effect=float(effect),
                    alpha=float(alpha),
                    power=float(power[row, first]),
                    noncentrality=float(noncentrality[row, first]),
                    df2=float(df2[row, first]),
                )
            )
    return designs
