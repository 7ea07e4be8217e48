"""Multi-reader multi-case (MRMC) analysis: Obuchowski–Rockette with Hillis' degrees of freedom (ORH).

The figure of merit (FOM) ``θ_ij`` of reader ``j`` in modality ``i`` follows the model of Obuchowski &
Rockette (1995)::

    θ_ij = μ + τ_i + R_j + (τR)_ij + ε_ij

with reader effects ``R_j`` and ``(τR)_ij`` (variances Var(R), Var(TR)) and an error ``ε`` that comes
from the sample of cases. Errors are correlated through four parameters: Var(error) (same reader, same
modality), Cov1 (same reader, other modality), Cov2 (other reader, same modality) and Cov3 (other
reader, other modality). They are estimated by the jackknife over cases: with ``θ_ij(k)`` the FOM
computed without case ``k`` of ``c`` cases,

    Cov(θ_ij, θ_i'j') = (c - 1) / c · Σ_k (θ_ij(k) - θ_ij(·)) (θ_i'j'(k) - θ_i'j'(·)),

averaged over the pairs of each kind. These are the estimates of OR-DBM MRMC 2.5 and RJafroc; they
reproduce the published analysis of the Van Dyke data set (the tests).

The jackknife FOMs (AUC, accuracy, macro F1) are computed for every reader and every left-out case at
once, in closed form; the covariances are sums over the jackknife matrix. Nothing loops over cases.

Two analyses, each with three variants (``VARIANTS``):

- ``compare_modalities``: two modalities read by the same readers on the same cases (Obuchowski &
  Rockette 1995; Hillis 2007; Hillis, Berbaum & Metz 2008);
- ``model_vs_readers``: one fixed model against a cohort of readers, the single-modality ORH analysis
  of the differences model − reader (Chakraborty 2017, ch. 22, there "CAD vs. radiologists").

Results are frozen dataclasses; ``to_dict`` gives JSON-ready values, an infinite df as ``None``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy.special import stdtr, stdtrit
from scipy.stats import rankdata

from analysis.intervals import check_level
from analysis.reader_arrays import NO_ANSWER, check_answers, jsonable
from analysis.reader_metrics import confusion_counts, readers_metrics
from models_zoo.classification_figures import MetricInputError, check_truth, ratio

RANDOM_READERS_RANDOM_CASES = "random_readers_random_cases"
FIXED_READERS_RANDOM_CASES = "fixed_readers_random_cases"
RANDOM_READERS_FIXED_CASES = "random_readers_fixed_cases"
VARIANTS = (RANDOM_READERS_RANDOM_CASES, FIXED_READERS_RANDOM_CASES, RANDOM_READERS_FIXED_CASES)


@dataclass(frozen=True, eq=False)
class JackknifeFOM:
    """FOMs of readers and their leave-one-case-out values.

    ``fom`` is ``(..., n_readers)``; ``jackknife`` is ``(..., n_readers, n_cases)``, its entry ``k``
    computed without case ``k``. The leading axis, when there is one, is the modality.
    """

    fom: np.ndarray
    jackknife: np.ndarray

    @property
    def n_cases(self) -> int:
        return int(self.jackknife.shape[-1])


def _reader_rows(values: Any, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """``values`` ``(n_readers, n_cases)`` or ``(n_modalities, n_readers, n_cases)`` as rows of cases."""
    array = np.asarray(values)
    if array.ndim not in (2, 3) or array.shape[-1] < 2:
        raise MetricInputError(
            f"{name}: expected shape (n_readers, n_cases) or (n_modalities, n_readers, n_cases) with at "
            f"least two cases, got {array.shape}"
        )
    return array.reshape(-1, array.shape[-1]), array.shape[:-1]


def _jackknife_fom(fom: np.ndarray, jackknife: np.ndarray, leading: tuple[int, ...]) -> JackknifeFOM:
    return JackknifeFOM(fom=fom.reshape(leading), jackknife=jackknife.reshape(leading + (jackknife.shape[-1],)))


def auc_jackknife(scores: Any, truth: Any) -> JackknifeFOM:
    """Trapezoidal (Wilcoxon) AUC of each reader's scores, and its jackknife, from binary truth.

    A positive case's placement is the number of negatives scored below it, ties counting one half
    (DeLong, DeLong & Clarke-Pearson 1988); it is its mid-rank among all cases minus its mid-rank
    among the positives, and symmetrically for a negative. Leaving a case out removes its placement
    from the Mann–Whitney sum U, so every leave-one-out AUC is one subtraction. Needs at least two
    cases of each truth, else a left-out AUC would be undefined.
    """
    rows, leading = _reader_rows(scores, "scores")
    if not np.issubdtype(rows.dtype, np.number) or not np.isfinite(rows).all():
        raise MetricInputError("scores: expected finite numbers")
    positive = np.asarray(truth)
    if positive.shape != (rows.shape[1],) or not np.isin(positive, (0, 1)).all():
        raise MetricInputError(f"truth: expected {rows.shape[1]} values of 0 or 1 (or booleans)")
    positive = positive.astype(bool)
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    if min(n_positive, n_negative) < 2:
        raise MetricInputError(
            f"truth: the jackknife AUC needs at least two cases of each truth, got {n_positive} "
            f"positive and {n_negative} negative"
        )
    ranks = rankdata(rows, axis=1)
    placement = np.empty_like(ranks)
    placement[:, positive] = ranks[:, positive] - rankdata(rows[:, positive], axis=1)
    placement[:, ~positive] = n_positive - (ranks[:, ~positive] - rankdata(rows[:, ~positive], axis=1))
    u_statistic = placement[:, positive].sum(axis=1)
    pairs_left = np.where(positive, n_negative * (n_positive - 1), (n_negative - 1) * n_positive)
    jackknife = (u_statistic[:, np.newaxis] - placement) / pairs_left
    return _jackknife_fom(u_statistic / (n_positive * n_negative), jackknife, leading)


def _answer_rows(answers: Any, truth: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    rows, leading = _reader_rows(answers, "answers")
    rows = check_answers(rows, n_classes)
    labels = check_truth(truth, n_classes, n_samples=rows.shape[1])
    if labels.ndim != 1:
        raise MetricInputError(f"truth: expected shape ({rows.shape[1]},), got {labels.shape}")
    return rows, labels, leading


def accuracy_jackknife(answers: Any, truth: Any, n_classes: int) -> JackknifeFOM:
    """Accuracy of each reader and its jackknife; an unanswered case (-1) counts as wrong."""
    rows, labels, leading = _answer_rows(answers, truth, n_classes)
    correct = rows == labels
    n_cases = labels.size
    jackknife = (correct.sum(axis=1, keepdims=True) - correct) / (n_cases - 1)
    return _jackknife_fom(readers_metrics(rows, labels, n_classes).accuracy, jackknife, leading)


# Readings (readers x cases) per block of the macro-F1 jackknife: its temporaries are several arrays of a
# block's size, which for 10,000 readers x 2,000 cases at once took gigabytes.
F1_JACKKNIFE_BLOCK = 2_000_000


def _f1(true_positives: np.ndarray, predicted: np.ndarray, support: np.ndarray) -> np.ndarray:
    return ratio(2 * true_positives, predicted + support, 0.0)


def macro_f1_jackknife(answers: Any, truth: Any, n_classes: int) -> JackknifeFOM:
    """Macro F1 of each reader and its jackknife, as ``analysis.reader_metrics`` defines it.

    One versus rest per class, F1 = 2 TP / (predicted + support), a class with neither counting 0, and
    the plain mean over the ``n_classes`` classes; an unanswered case (-1) is wrong and predicts no
    class. Leaving a case out changes at most two classes' counts (its true class and the class
    answered), so each jackknife value is the full macro F1 corrected for those two classes.
    """
    rows, labels, leading = _answer_rows(answers, truth, n_classes)
    macro, jackknife = np.empty(rows.shape[0]), np.empty(rows.shape)
    block = max(1, F1_JACKKNIFE_BLOCK // labels.size)
    for start in range(0, rows.shape[0], block):
        readers = slice(start, start + block)
        macro[readers], jackknife[readers] = _macro_f1_and_jackknife(rows[readers], labels, n_classes)
    return _jackknife_fom(macro, jackknife, leading)


def _macro_f1_and_jackknife(rows: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    counts = confusion_counts(rows, labels, n_classes)
    answered = counts[:, :, :n_classes]
    true_positives = np.diagonal(answered, axis1=1, axis2=2)
    predicted = answered.sum(axis=1)
    support = counts.sum(axis=2)
    per_class = _f1(true_positives, predicted, support)
    macro = per_class.mean(axis=1)

    hit = rows == labels
    change = (
        _f1(true_positives[:, labels] - hit, predicted[:, labels] - hit, support[:, labels] - 1)
        - per_class[:, labels]
    )
    wrong = (rows != NO_ANSWER) & ~hit
    answer = np.where(wrong, rows, 0)
    reader = np.arange(rows.shape[0])[:, np.newaxis]
    lost_prediction = (
        _f1(true_positives[reader, answer], predicted[reader, answer] - 1, support[reader, answer])
        - per_class[reader, answer]
    )
    change += np.where(wrong, lost_prediction, 0.0)
    return macro, macro[:, np.newaxis] + change / n_classes


ANSWER_FOMS = {"accuracy": accuracy_jackknife, "f1": macro_f1_jackknife}


@dataclass(frozen=True)
class ErrorCovariances:
    """The OR error (co)variances of a FOM over samples of cases; Cov1 and Cov3 are NaN for one modality."""

    var_error: float
    cov1: float
    cov2: float
    cov3: float


def jackknife_covariances(jackknife: Any) -> ErrorCovariances:
    """Var(error), Cov1, Cov2 and Cov3 from jackknife FOMs ``(n_modalities, n_readers, n_cases)``.

    Each is a mean of ``(c - 1) / c · Σ_k d d'`` over the pairs of its kind (``d`` the jackknife
    deviations); sums over pairs of different readers come from the per-modality sums of deviations
    minus the same-reader terms, so no reader × reader matrix is built.
    """
    values = np.asarray(jackknife, dtype=float)
    if values.ndim != 3 or values.shape[1] < 2 or values.shape[2] < 2:
        raise MetricInputError(
            f"jackknife: expected shape (n_modalities, n_readers >= 2, n_cases >= 2), got {values.shape}"
        )
    n_modalities, n_readers, n_cases = values.shape
    deviations = values - values.mean(axis=2, keepdims=True)
    scale = (n_cases - 1) / n_cases
    totals = deviations.sum(axis=1)
    same_reader = np.einsum("ajk,bjk->ab", deviations, deviations)
    other_readers = (totals @ totals.T - same_reader) / (n_readers * (n_readers - 1))
    other_modality = ~np.eye(n_modalities, dtype=bool)
    several = n_modalities > 1
    return ErrorCovariances(
        var_error=float(scale * np.trace(same_reader) / (n_modalities * n_readers)),
        cov1=float(scale * same_reader[other_modality].mean() / n_readers) if several else math.nan,
        cov2=float(scale * np.diag(other_readers).mean()),
        cov3=float(scale * other_readers[other_modality].mean()) if several else math.nan,
    )


def _t_test(estimate: float, variance: float, df: float, level: float) -> dict[str, float]:
    """Two-sided t test of ``estimate = 0`` and its interval; ``df = inf`` is the normal distribution.

    With zero variance the statistic is infinite (p = 0) or, for a zero estimate, NaN. scipy.special's
    t functions rather than scipy.stats': the same values, without the per-call overhead that
    dominates when many small analyses are run (simulations, cohorts).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        std_error = np.sqrt(np.float64(variance))
        statistic = np.float64(estimate) / std_error
    half_width = float(stdtrit(df, (1 + level) / 2) * std_error)
    return {
        "std_error": float(std_error),
        "statistic": float(statistic),
        "p_value": float(2 * stdtr(df, -abs(statistic))),
        "ci_low": estimate - half_width,
        "ci_high": estimate + half_width,
    }


def _hillis_df(error_term: float, mean_square: float, df: int) -> float:
    """Hillis (2007) denominator df, ``error_term² / (mean_square² / df)``; infinite for ``mean_square = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(error_term) ** 2 / (np.float64(mean_square) ** 2 / df))


def _infinity_as_none(value: Any) -> Any:
    # JSON has no infinity; an infinite df is the normal (or chi-square) reference distribution.
    if isinstance(value, dict):
        return {key: _infinity_as_none(item) for key, item in value.items()}
    return None if isinstance(value, float) and math.isinf(value) else value


def _to_dict(result: Any) -> dict[str, Any]:
    return _infinity_as_none(jsonable(asdict(result)))


@dataclass(frozen=True)
class ORHTest:
    """The test of the difference of two modalities' mean FOMs in one variant, with its interval.

    ``F = difference² / std_error²`` on ``df1 = 1`` and ``df2`` degrees of freedom (``inf``: the
    chi-square / normal reference of the fixed-readers variant); ``p_value`` is two-sided.
    """

    variant: str
    difference: float
    std_error: float
    F: float
    df1: int
    df2: float
    p_value: float
    ci_low: float
    ci_high: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class VarianceComponents:
    """OR variance components and mean squares of two modalities (Hillis 2007, Table 1).

    Var(TR) = MS(TR) − Var(error) + Cov1 + max(Cov2 − Cov3, 0) (Hillis, Obuchowski & Berbaum 2011,
    eq. 9) and Var(R) = [MS(R) − Var(TR) − Var(error) − Cov1 + Cov2 + Cov3] / 2; either may come out
    negative, an estimate of a variance near zero.
    """

    var_r: float
    var_tr: float
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    ms_t: float
    ms_r: float
    ms_tr: float
    n_readers: int
    n_cases: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True, eq=False)
class ModalityComparison:
    """Two modalities compared by ORH: reader FOMs ``(2, n_readers)``, components, and the three variants."""

    reader_fom: np.ndarray
    fom_a: float
    fom_b: float
    difference: float
    components: VarianceComponents
    random_readers_random_cases: ORHTest
    fixed_readers_random_cases: ORHTest
    random_readers_fixed_cases: ORHTest

    @property
    def tests(self) -> tuple[ORHTest, ORHTest, ORHTest]:
        return (self.random_readers_random_cases, self.fixed_readers_random_cases, self.random_readers_fixed_cases)


def _check_reader_fom(values: Any) -> np.ndarray:
    fom = np.asarray(values, dtype=float)
    if fom.ndim != 2 or fom.shape[0] != 2 or fom.shape[1] < 2:
        raise MetricInputError(f"reader_fom: expected shape (2, n_readers >= 2), got {fom.shape}")
    if not np.isfinite(fom).all():
        raise MetricInputError("reader_fom: expected finite numbers")
    return fom


def orh_comparison(
    reader_fom: Any, covariances: ErrorCovariances, *, n_cases: int, level: float = 0.95
) -> ModalityComparison:
    """ORH comparison of two modalities from the reader FOMs ``(2, n_readers)`` and the error covariances.

    Difference = mean FOM of modality 0 − mean FOM of modality 1; with ``r`` readers:

    - random readers, random cases: error term MS(TR) + r·max(Cov2 − Cov3, 0) (Obuchowski & Rockette
      1995), ``df2`` = error term² / [MS(TR)² / (r − 1)] (Hillis 2007; Hillis, Berbaum & Metz 2008);
    - fixed readers, random cases: Var(error) − Cov1 + (r − 1)·max(Cov2 − Cov3, 0), ``df2`` = inf
      (Hillis 2007);
    - random readers, fixed cases: MS(TR) on r − 1 df, the readers' paired t test.

    In each the difference's standard error is sqrt(2 · error term / r). ``covariances`` usually come
    from ``jackknife_covariances``; ``n_cases`` is only reported.
    """
    level = check_level(level)
    fom = _check_reader_fom(reader_fom)
    n_modalities, n_readers = fom.shape
    modality_means = fom.mean(axis=1)
    reader_means = fom.mean(axis=0)
    grand = fom.mean()
    ms_t = n_readers * np.sum((modality_means - grand) ** 2) / (n_modalities - 1)
    ms_r = n_modalities * np.sum((reader_means - grand) ** 2) / (n_readers - 1)
    interaction = fom - modality_means[:, np.newaxis] - reader_means + grand
    ms_tr = np.sum(interaction**2) / ((n_modalities - 1) * (n_readers - 1))
    cov = covariances
    readers_apart = max(cov.cov2 - cov.cov3, 0.0)
    var_tr = ms_tr - cov.var_error + cov.cov1 + readers_apart
    components = VarianceComponents(
        var_r=float((ms_r - var_tr - cov.var_error - cov.cov1 + cov.cov2 + cov.cov3) / n_modalities),
        var_tr=float(var_tr),
        var_error=cov.var_error,
        cov1=cov.cov1,
        cov2=cov.cov2,
        cov3=cov.cov3,
        ms_t=float(ms_t),
        ms_r=float(ms_r),
        ms_tr=float(ms_tr),
        n_readers=n_readers,
        n_cases=int(n_cases),
    )
    difference = float(modality_means[0] - modality_means[1])
    random_cases = ms_tr + n_readers * readers_apart
    error_terms = {
        RANDOM_READERS_RANDOM_CASES: (random_cases, _hillis_df(random_cases, ms_tr, n_readers - 1)),
        FIXED_READERS_RANDOM_CASES: (cov.var_error - cov.cov1 + (n_readers - 1) * readers_apart, math.inf),
        RANDOM_READERS_FIXED_CASES: (ms_tr, float(n_readers - 1)),
    }
    tests = {}
    for variant, (error_term, df2) in error_terms.items():
        test = _t_test(difference, 2 * error_term / n_readers, df2, level)
        tests[variant] = ORHTest(
            variant=variant,
            difference=difference,
            std_error=test["std_error"],
            F=test["statistic"] ** 2,
            df1=1,
            df2=df2,
            p_value=test["p_value"],
            ci_low=test["ci_low"],
            ci_high=test["ci_high"],
            level=level,
        )
    return ModalityComparison(
        reader_fom=fom,
        fom_a=float(modality_means[0]),
        fom_b=float(modality_means[1]),
        difference=difference,
        components=components,
        **tests,
    )


def _check_jackknife_fom(foms: JackknifeFOM, shape: tuple[int, ...], name: str) -> None:
    expected = shape + (foms.n_cases,)
    if np.shape(foms.fom) != shape or np.shape(foms.jackknife) != expected or foms.n_cases < 2:
        raise MetricInputError(
            f"{name}: expected fom {shape} and jackknife {expected} with at least two cases, got "
            f"{np.shape(foms.fom)} and {np.shape(foms.jackknife)}"
        )


def compare_modalities(foms: JackknifeFOM, *, level: float = 0.95) -> ModalityComparison:
    """ORH comparison of two modalities from jackknife FOMs ``(2, n_readers)`` (see ``orh_comparison``)."""
    if np.ndim(foms.fom) != 2 or np.shape(foms.fom)[0] != 2:
        raise MetricInputError(f"foms: expected FOMs of two modalities (2, n_readers), got {np.shape(foms.fom)}")
    _check_jackknife_fom(foms, np.shape(foms.fom), "foms")
    covariances = jackknife_covariances(foms.jackknife)
    return orh_comparison(foms.fom, covariances, n_cases=foms.n_cases, level=level)


@dataclass(frozen=True)
class NonInferiorityTest:
    """One-sided test that the model is worse than the readers by ``margin`` or more (H0: effect ≤ −margin).

    A small ``p_value`` says the model is non-inferior: t = (effect + margin) / std_error.
    """

    margin: float
    t: float
    df: float
    p_value: float


@dataclass(frozen=True)
class ReaderComparisonTest:
    """The model-minus-readers effect in one variant: t test on ``df`` degrees of freedom, two-sided p."""

    variant: str
    effect: float
    std_error: float
    t: float
    df: float
    p_value: float
    ci_low: float
    ci_high: float
    level: float
    non_inferiority: NonInferiorityTest | None

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


@dataclass(frozen=True)
class DifferenceComponents:
    """Single-modality OR components of the differences ψ_j = θ_model − θ_j (Hillis 2007).

    ``ms_r`` is the readers' mean square of ψ; ``var_r`` = MS(R) − Var(error) + Cov2, the reader
    variance net of case sampling (may come out negative).
    """

    var_r: float
    var_error: float
    cov2: float
    ms_r: float
    n_readers: int
    n_cases: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


@dataclass(frozen=True, eq=False)
class ModelVsReaders:
    """A fixed model against a cohort of readers: effect = model FOM − mean reader FOM, three variants.

    ``n_cases_dropped`` and ``warnings`` say which cases were left out (see
    ``model_vs_readers_on_answers``).
    """

    model_fom: float
    reader_fom: np.ndarray
    mean_reader_fom: float
    effect: float
    components: DifferenceComponents
    random_readers_random_cases: ReaderComparisonTest
    fixed_readers_random_cases: ReaderComparisonTest
    random_readers_fixed_cases: ReaderComparisonTest
    n_cases_dropped: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def tests(self) -> tuple[ReaderComparisonTest, ReaderComparisonTest, ReaderComparisonTest]:
        return (self.random_readers_random_cases, self.fixed_readers_random_cases, self.random_readers_fixed_cases)

    def to_dict(self) -> dict[str, Any]:
        return _to_dict(self)


def model_vs_readers(
    model: JackknifeFOM, readers: JackknifeFOM, *, margin: float | None = None, level: float = 0.95
) -> ModelVsReaders:
    """A fixed model (FOM ``(1,)``, jackknife ``(1, n_cases)``) against random readers on the same cases.

    The method of Chakraborty (2017, ch. 22), there "1T-RRRC": the differences ψ_j = θ_model − θ_j
    (model FOM minus reader j's, for each case sample) follow the single-modality OR model
    ψ_j = Δ + R_j + ε_j, and Hillis' (2007) single-modality analysis tests Δ = 0. With ``r`` readers,
    MS(R) the readers' mean square of ψ and Var(error), Cov2 the jackknife covariances of ψ:

    - random readers, random cases: Var(Δ̂) = [MS(R) + r·max(Cov2, 0)] / r on Hillis' df
      [MS(R) + r·max(Cov2, 0)]² / [MS(R)² / (r − 1)]; the same as the two-modality analysis of the
      readers against the model replicated as every reader (Chakraborty's "2T-RRRC", a test);
    - fixed readers, random cases: Var(Δ̂) = [Var(error) + (r − 1)·max(Cov2, 0)] / r, normal;
    - random readers, fixed cases: Var(Δ̂) = MS(R) / r on r − 1 df, the one-sample t test of ψ.

    With ``margin`` > 0 each variant also holds the one-sided non-inferiority test of H0: Δ ≤ −margin.
    """
    level = check_level(level)
    n_readers = _check_model_vs_readers(model, readers, margin)
    reader_fom = np.asarray(readers.fom, dtype=float)
    differences = float(model.fom[0]) - reader_fom
    covariances = jackknife_covariances((model.jackknife - readers.jackknife)[np.newaxis])
    effect = float(differences.mean())
    ms_r = float(differences.var(ddof=1))
    cov2 = max(covariances.cov2, 0.0)
    random_cases = ms_r + n_readers * cov2
    variances = {
        RANDOM_READERS_RANDOM_CASES: (random_cases, _hillis_df(random_cases, ms_r, n_readers - 1)),
        FIXED_READERS_RANDOM_CASES: (covariances.var_error + (n_readers - 1) * cov2, math.inf),
        RANDOM_READERS_FIXED_CASES: (ms_r, float(n_readers - 1)),
    }
    tests = {
        variant: _reader_comparison_test(variant, effect, error_term / n_readers, df, level, margin)
        for variant, (error_term, df) in variances.items()
    }
    components = DifferenceComponents(
        var_r=ms_r - covariances.var_error + covariances.cov2,
        var_error=covariances.var_error,
        cov2=covariances.cov2,
        ms_r=ms_r,
        n_readers=n_readers,
        n_cases=readers.n_cases,
    )
    return ModelVsReaders(
        model_fom=float(model.fom[0]),
        reader_fom=reader_fom,
        mean_reader_fom=float(reader_fom.mean()),
        effect=effect,
        components=components,
        **tests,
    )


def _check_model_vs_readers(model: JackknifeFOM, readers: JackknifeFOM, margin: float | None) -> int:
    """The number of readers, once the model and readers are found fit for ``model_vs_readers``."""
    if np.ndim(readers.fom) != 1:
        raise MetricInputError(f"readers: expected FOMs (n_readers,), got shape {np.shape(readers.fom)}")
    _check_jackknife_fom(readers, np.shape(readers.fom), "readers")
    n_readers = int(np.shape(readers.fom)[0])
    if n_readers < 2:
        raise MetricInputError(f"readers: the analysis needs at least two readers, got {n_readers}")
    _check_jackknife_fom(model, (1,), "model")
    if model.n_cases != readers.n_cases:
        raise MetricInputError(f"model: has {model.n_cases} cases, the readers have {readers.n_cases}")
    if margin is not None and not (math.isfinite(margin) and margin > 0):
        raise MetricInputError(f"margin: expected a positive number, got {margin!r}")
    return n_readers


def _reader_comparison_test(
    variant: str, effect: float, variance: float, df: float, level: float, margin: float | None
) -> ReaderComparisonTest:
    """One variant's t test of the effect with ``variance`` on ``df`` degrees of freedom, and with a
    ``margin`` the one-sided non-inferiority test of H0: effect ≤ −margin."""
    test = _t_test(effect, variance, df, level)
    non_inferiority = None
    if margin is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic = float(np.float64(effect + margin) / test["std_error"])
        non_inferiority = NonInferiorityTest(
            margin=float(margin), t=statistic, df=df, p_value=float(stdtr(df, -statistic))
        )
    return ReaderComparisonTest(
        variant=variant,
        effect=effect,
        std_error=test["std_error"],
        t=test["statistic"],
        df=df,
        p_value=test["p_value"],
        ci_low=test["ci_low"],
        ci_high=test["ci_high"],
        level=level,
        non_inferiority=non_inferiority,
    )


def model_vs_readers_on_answers(
    model_answers: Any,
    reader_answers: Any,
    truth: Any,
    n_classes: int,
    *,
    fom: str = "accuracy",
    margin: float | None = None,
    level: float = 0.95,
) -> ModelVsReaders:
    """``model_vs_readers`` for class answers: the model's ``(n_cases,)``, the readers' ``(n_readers, n_cases)``.

    ``fom`` is ``"accuracy"`` or ``"f1"`` (macro F1, as in ``analysis.reader_metrics``). The jackknife
    needs every reader on every case, so cases that the model or any reader left unanswered (-1) are left
    out of the analysis; the result counts them in ``n_cases_dropped`` and says so in ``warnings``.
    The FOMs are therefore those of the cases everyone read, which differ from Table 2's (where an
    unanswered case counts as wrong) when some are dropped. Fewer than two cases left is an error.
    """
    if fom not in ANSWER_FOMS:
        raise MetricInputError(f"fom: expected one of {tuple(ANSWER_FOMS)}, got {fom!r}")
    model = check_answers(model_answers, n_classes, name="model_answers")
    readers = check_answers(reader_answers, n_classes, name="reader_answers")
    if model.shape[0] != 1 or model.shape[1] != readers.shape[1]:
        raise MetricInputError(
            f"model_answers: expected one row of {readers.shape[1]} cases like reader_answers, got {model.shape}"
        )
    labels = check_truth(truth, n_classes, n_samples=readers.shape[1])
    everyone = np.vstack([model, readers])
    complete = (everyone != NO_ANSWER).all(axis=0)
    n_dropped = int((~complete).sum())
    if complete.sum() < 2:
        raise MetricInputError(
            f"answers: only {int(complete.sum())} of {labels.size} cases were answered by the model and every "
            "reader; the analysis needs at least two"
        )
    foms = ANSWER_FOMS[fom](everyone[:, complete], labels[complete], n_classes)
    result = model_vs_readers(
        JackknifeFOM(foms.fom[:1], foms.jackknife[:1]),
        JackknifeFOM(foms.fom[1:], foms.jackknife[1:]),
        margin=margin,
        level=level,
    )
    notes = ()
    if n_dropped:
        notes = (
            f"left out {n_dropped} of {labels.size} cases that the model or some reader did not answer "
            "(the analysis needs every reader on every case)",
        )
    return replace(result, n_cases_dropped=n_dropped, warnings=notes)
