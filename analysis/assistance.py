"""Readers with the machine: the analysis of an assisted reading arm, arrays in, named results out.

Each reader reads each case unaided (``u``) and aided (``f``, the final answer once the model's
suggestion ``a`` was shown); ``t`` is the truth. In a sequential design (Beiden et al. 2002) ``u`` is
locked before ``a`` appears and ``f`` follows at once; in a crossover the two readings of a case lie
in different sessions. Answers follow ``analysis.reader_arrays``: class indices, -1 (``NO_ANSWER``) where
there is none; a suggestion of -1 means none was shown.

- ``orh_aided_vs_unaided``: aided against unaided as a two-modality Obuchowski–Rockette analysis with
  Hillis' df (Obuchowski & Rockette 1995; Hillis 2007) per cohort and over all readers, accuracy and
  macro F1, the three variants of ``analysis.mrmc``;
- ``suggestion_strata``: accuracy unaided and aided on the cases whose suggestion was right and wrong;
- ``assisted_pilot``: a cohort's OR components, to size an assisted study (``analysis.study_power``).

Each reader's change, helped or harmed, is in ``analysis.assistance_readers``; the switch and
reliance measures in ``analysis.assistance_switches``; reading time and the crossover's period and
sequence effects in ``analysis.assistance_time``. Nothing loops over cases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.mrmc import ANSWER_FOMS, JackknifeFOM, ModalityComparison, compare_modalities
from analysis.study_power import PilotComponents
from analysis.reader_arrays import NO_ANSWER, check_answers, jsonable
from models_zoo.classification_figures import MetricInputError, check_truth


def check_level(level: float) -> float:
    """A confidence level strictly between 0 and 1, or an error that says so."""
    if not 0.0 < float(level) < 1.0:
        raise MetricInputError(f"level: expected a confidence level strictly between 0 and 1, got {level!r}")
    return float(level)


def rate(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` as floats, NaN where the denominator is 0 (an empty condition)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def optional(value: Any) -> float | None:
    """A float, or ``None`` for a figure that is undefined (NaN): JSON null, never 0."""
    value = float(value)
    return None if math.isnan(value) else value


@dataclass(frozen=True, eq=False)
class AssistedReadings:
    """The checked readings of an assisted arm: ``(n_readers, n_cases)`` matrices of class indices.

    ``suggestion`` is broadcast to one row per reader. ``cohorts`` names the cohorts in sorted order,
    ``cohort_of`` each reader's index into it.
    """

    unaided: np.ndarray
    aided: np.ndarray
    suggestion: np.ndarray
    truth: np.ndarray
    n_classes: int
    readers: tuple[str, ...]
    reader_cohorts: tuple[str, ...]
    cohorts: tuple[str, ...]
    cohort_of: np.ndarray

    @property
    def n_readers(self) -> int:
        return self.unaided.shape[0]

    @property
    def n_cases(self) -> int:
        return self.unaided.shape[1]

    @property
    def paired(self) -> np.ndarray:
        """The readings with both an unaided and an aided answer."""
        return (self.unaided != NO_ANSWER) & (self.aided != NO_ANSWER)

    @property
    def with_suggestion(self) -> np.ndarray:
        """The paired readings that were shown a suggestion."""
        return self.paired & (self.suggestion != NO_ANSWER)

    def members(self, cohort: str | None) -> np.ndarray:
        """The readers of ``cohort`` (``None``: all readers) as a boolean mask."""
        if cohort is None:
            return np.ones(self.n_readers, dtype=bool)
        return self.cohort_of == self.cohorts.index(cohort)

    def groups(self) -> list[str | None]:
        """Every cohort, then all readers (``None``)."""
        return [*self.cohorts, None]


def assisted_readings(
    unaided: Any,
    aided: Any,
    suggestion: Any,
    truth: Any,
    n_classes: int,
    *,
    readers: Sequence[str],
    cohorts: Sequence[str],
) -> AssistedReadings:
    """Check the arrays once: ``unaided`` and ``aided`` ``(n_readers, n_cases)``, ``suggestion``
    ``(n_cases,)`` (the same for every reader) or ``(n_readers, n_cases)``, ``truth`` ``(n_cases,)``,
    and each reader's name and cohort. An error names the array and the first bad value."""
    u = check_answers(unaided, n_classes, name="unaided")
    f = check_answers(aided, n_classes, name="aided")
    if f.shape != u.shape:
        raise MetricInputError(f"aided: expected the shape of unaided {u.shape}, got {f.shape}")
    a = check_answers(suggestion, n_classes, name="suggestion")
    if a.shape[1] != u.shape[1] or a.shape[0] not in (1, u.shape[0]):
        raise MetricInputError(
            f"suggestion: expected shape ({u.shape[1]},) or {u.shape}, got {np.shape(suggestion)}"
        )
    t = check_truth(truth, n_classes, n_samples=u.shape[1])
    if t.ndim != 1:
        raise MetricInputError(f"truth: expected shape ({u.shape[1]},), got {t.shape}")
    names, groups = tuple(map(str, readers)), tuple(map(str, cohorts))
    for label, values in (("readers", names), ("cohorts", groups)):
        if len(values) != u.shape[0]:
            raise MetricInputError(f"{label}: expected one per reader ({u.shape[0]}), got {len(values)}")
    if len(set(names)) != len(names):
        raise MetricInputError("readers: a name appears twice")
    cohort_names = tuple(sorted(set(groups)))
    return AssistedReadings(
        unaided=u.astype(np.int64),
        aided=f.astype(np.int64),
        suggestion=np.broadcast_to(a, u.shape).astype(np.int64),
        truth=t,
        n_classes=int(n_classes),
        readers=names,
        reader_cohorts=groups,
        cohorts=cohort_names,
        cohort_of=np.array([cohort_names.index(group) for group in groups], dtype=np.int64),
    )


@dataclass(frozen=True)
class AidedOrhRow:
    """Aided against unaided in one cohort (``None``: all readers), FOM and variant; effect = aided − unaided.

    ``df`` is infinite for fixed readers (the normal reference), ``None`` in ``to_dict``.
    """

    cohort: str | None
    fom: str
    variant: str
    n_readers: int
    n_cases: int
    unaided_fom: float
    aided_fom: float
    effect: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    var_tr: float

    def to_dict(self) -> dict[str, Any]:
        row = jsonable(asdict(self))
        row["df"] = None if math.isinf(self.df) else row["df"]
        return row


@dataclass(frozen=True, eq=False)
class AidedOrh:
    """The ORH rows, the comparisons behind them by (cohort, FOM), cases left out and why.

    ``n_cases_dropped`` counts, per cohort, the cases some reader of it lacks an unaided or aided
    answer to (the jackknife needs every reader on every case); ``notes`` say so, and name the
    cohorts that could not be analysed.
    """

    rows: tuple[AidedOrhRow, ...]
    comparisons: dict[tuple[str | None, str], ModalityComparison]
    n_cases_dropped: dict[str | None, int]
    notes: tuple[str, ...]


def _group_name(cohort: str | None) -> str:
    return "all readers" if cohort is None else f"cohort {cohort}"


def _complete_cases(readings: AssistedReadings, cohort: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The group's readers, and the cases every one of them answered unaided and aided."""
    members = readings.members(cohort)
    return members, readings.paired[members].all(axis=0)


def _too_few(cohort: str | None, n_readers: int, n_cases: int) -> str:
    return (
        f"{_group_name(cohort)}: {n_readers} reader(s) and {n_cases} case(s) answered by all of them unaided and "
        "aided; the ORH analysis needs two or more of each"
    )


def _aided_vs_unaided(
    readings: AssistedReadings, members: np.ndarray, complete: np.ndarray, fom: str, level: float, cache: dict
) -> ModalityComparison:
    """ORH of the ``members`` on the ``complete`` cases. A reader's jackknife depends on the cases alone, so
    it is computed once for every reader per set of cases (in ``cache``) and each group takes its rows."""
    key = (fom, complete.tobytes())
    if key not in cache:
        both = np.stack([readings.aided[:, complete], readings.unaided[:, complete]])
        cache[key] = ANSWER_FOMS[fom](both, readings.truth[complete], readings.n_classes)
    foms = cache[key]
    return compare_modalities(JackknifeFOM(foms.fom[:, members], foms.jackknife[:, members]), level=level)


def orh_aided_vs_unaided(
    readings: AssistedReadings, *, foms: Sequence[str] = ("accuracy", "f1"), level: float = 0.95
) -> AidedOrh:
    """Aided against unaided, two modalities read by the same readers on the same cases (ORH).

    Per cohort and over all readers, on the cases every reader of the group answered in both arms:
    the jackknife FOMs of ``analysis.mrmc`` (modality 0 aided, 1 unaided) and ``compare_modalities``
    (Obuchowski & Rockette 1995; Hillis 2007; Hillis, Berbaum & Metz 2008). A group with fewer than
    two readers or two complete cases gives no rows, and a note.
    """
    level = check_level(level)
    unknown = [fom for fom in foms if fom not in ANSWER_FOMS]
    if unknown or not foms:
        raise MetricInputError(f"foms: expected some of {tuple(ANSWER_FOMS)}, got {tuple(foms)!r}")
    rows, comparisons, dropped, notes, jackknives = [], {}, {}, [], {}
    for cohort in readings.groups():
        members, complete = _complete_cases(readings, cohort)
        n_readers, n_cases = int(members.sum()), int(complete.sum())
        dropped[cohort] = readings.n_cases - n_cases
        if n_readers < 2 or n_cases < 2:
            notes.append(_too_few(cohort, n_readers, n_cases))
            continue
        if dropped[cohort]:
            notes.append(
                f"{_group_name(cohort)}: left out {dropped[cohort]} of {readings.n_cases} cases that some reader "
                "did not answer both unaided and aided (the analysis needs every reader on every case)"
            )
        for fom in foms:
            comparison = _aided_vs_unaided(readings, members, complete, fom, level, jackknives)
            comparisons[(cohort, fom)] = comparison
            for test in comparison.tests:
                rows.append(
                    AidedOrhRow(
                        cohort=cohort,
                        fom=fom,
                        variant=test.variant,
                        n_readers=n_readers,
                        n_cases=n_cases,
                        unaided_fom=comparison.fom_b,
                        aided_fom=comparison.fom_a,
                        effect=comparison.difference,
                        se=test.std_error,
                        df=test.df2,
                        ci_low=test.ci_low,
                        ci_high=test.ci_high,
                        p_value=test.p_value,
                        var_tr=comparison.components.var_tr,
                    )
                )
    return AidedOrh(tuple(rows), comparisons, dropped, tuple(notes))


@dataclass(frozen=True)
class SuggestionStratum:
    """A cohort's (``None``: all readers') readings on the cases whose suggestion was right, or wrong.

    ``n_cases`` counts distinct cases, ``n_readings`` the cohort's readings of them (both arms
    answered); accuracies pool the readings.
    """

    cohort: str | None
    suggestion_correct: bool
    n_cases: int
    n_readings: int
    unaided_accuracy: float | None
    aided_accuracy: float | None


def suggestion_strata(readings: AssistedReadings) -> tuple[SuggestionStratum, ...]:
    """Accuracy unaided and aided where the suggestion was right and where it was wrong, per cohort and
    over all readers (Kiani et al. 2020 stratify the same way), the cases without a suggestion left out."""
    shown = readings.with_suggestion
    suggestion_right = readings.suggestion == readings.truth
    unaided = readings.unaided == readings.truth
    aided = readings.aided == readings.truth
    strata = []
    for cohort in readings.groups():
        members = readings.members(cohort)
        for correct in (True, False):
            cells = shown[members] & (suggestion_right[members] == correct)
            n_readings = int(cells.sum())
            strata.append(
                SuggestionStratum(
                    cohort=cohort,
                    suggestion_correct=correct,
                    n_cases=int(cells.any(axis=0).sum()),
                    n_readings=n_readings,
                    unaided_accuracy=optional(rate(np.sum(unaided[members] & cells), n_readings)),
                    aided_accuracy=optional(rate(np.sum(aided[members] & cells), n_readings)),
                )
            )
    return tuple(strata)


def assisted_pilot(readings: AssistedReadings, *, cohort: str | None = None, fom: str = "accuracy") -> PilotComponents:
    """The OR components of aided against unaided in ``cohort`` (``None``: all readers), to plan a study.

    Cov1, the covariance of a reader's unaided and aided errors, comes from the pilot: a sequential
    design makes it large, which shrinks the variance of the difference (Beiden et al. 2002;
    Schalekamp et al. 2014), and a planner that assumed it would size the study for another design.
    """
    if fom not in ANSWER_FOMS:
        raise MetricInputError(f"fom: expected one of {tuple(ANSWER_FOMS)}, got {fom!r}")
    if cohort is not None and cohort not in readings.cohorts:
        raise MetricInputError(f"cohort: {cohort!r} is none of the readers' cohorts ({', '.join(readings.cohorts)})")
    members, complete = _complete_cases(readings, cohort)
    if members.sum() < 2 or complete.sum() < 2:
        raise MetricInputError(_too_few(cohort, int(members.sum()), int(complete.sum())))
    return PilotComponents.from_components(_aided_vs_unaided(readings, members, complete, fom, 0.95, {}).components)
