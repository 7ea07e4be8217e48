"""Switches toward and away from the suggestion, and reliance on it, per reader and per cohort.

With ``u`` the unaided answer, ``f`` the aided (final) one, ``a`` the suggestion and ``t`` the truth,
on the readings with all three (Schemmer et al. 2023, "Appropriate reliance on AI advice", IUI,
arXiv 2302.02187):

- relative AI reliance, ``rair`` = P(f = t | u ≠ t, a = t): of the cases where the reader was wrong
  and the suggestion right, the share the reader then got right;
- relative self-reliance, ``rsr`` = P(f = t | u = t, a ≠ t): of the cases where the reader was right
  and the suggestion wrong, the share the reader kept right;
- ``harmful_switch_rate`` = P(f = a | u = t, a ≠ t): of those, the share switched to the wrong
  suggestion;
- ``wrong_adopted``: how many final answers took up a wrong suggestion the reader had not given
  unaided (f = a ≠ t, u ≠ a);
- agreement with the suggestion before and after it was shown, P(u = a) and P(f = a), a reliance
  measure that needs no truth.

A rate whose condition holds for no reading is ``None`` (JSON null), never 0. A cohort's row pools
its readers' readings. In a sequential design the change from ``u`` to ``f`` is a switch; in a
crossover ``u`` and ``f`` are readings weeks apart, and the same figures measure agreement, not switching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.assistance import AssistedReadings, optional, rate

READER = "reader"
COHORT = "cohort"
# The per-reading events counted, in the columns of ``_event_counts``.
EVENTS = (
    "n_cases",
    "n_suggestion_right",
    "n_suggestion_wrong",
    "n_rair_cases",
    "rair_right",
    "n_rsr_cases",
    "rsr_right",
    "rsr_switched",
    "wrong_adopted",
    "agree_before",
    "agree_after",
)


@dataclass(frozen=True)
class SwitchRow:
    """The switch and reliance figures of one reader (``level`` ``reader``) or one cohort (``cohort``).

    ``n_cases`` counts the readings with an unaided answer, an aided answer and a suggestion (for a
    cohort, all its readers' readings); ``n_rair_cases`` and ``n_rsr_cases`` the readings ``rair``
    and ``rsr`` (and ``harmful_switch_rate``) rest on.
    """

    level: str
    name: str
    cohort: str
    n_cases: int
    n_suggestion_right: int
    n_suggestion_wrong: int
    rair: float | None
    rsr: float | None
    harmful_switch_rate: float | None
    wrong_adopted: int
    agree_before: float | None
    agree_after: float | None
    n_rair_cases: int
    n_rsr_cases: int


def _event_counts(readings: AssistedReadings) -> np.ndarray:
    """How often each of ``EVENTS`` happened, per reader: ``(n_readers, len(EVENTS))``."""
    u, f, a, t = readings.unaided, readings.aided, readings.suggestion, readings.truth
    shown = readings.with_suggestion
    unaided_right, suggestion_right, final_right = u == t, a == t, f == t
    followed = f == a
    rair_cases = shown & ~unaided_right & suggestion_right
    rsr_cases = shown & unaided_right & ~suggestion_right
    events = (
        shown,
        shown & suggestion_right,
        shown & ~suggestion_right,
        rair_cases,
        rair_cases & final_right,
        rsr_cases,
        rsr_cases & final_right,
        rsr_cases & followed,
        shown & followed & ~suggestion_right & (u != a),
        shown & (u == a),
        shown & followed,
    )
    return np.stack([event.sum(axis=1) for event in events], axis=1)


def _row(level: str, name: str, cohort: str, counts: np.ndarray) -> SwitchRow:
    count = dict(zip(EVENTS, (int(value) for value in counts)))
    return SwitchRow(
        level=level,
        name=name,
        cohort=cohort,
        n_cases=count["n_cases"],
        n_suggestion_right=count["n_suggestion_right"],
        n_suggestion_wrong=count["n_suggestion_wrong"],
        rair=optional(rate(count["rair_right"], count["n_rair_cases"])),
        rsr=optional(rate(count["rsr_right"], count["n_rsr_cases"])),
        harmful_switch_rate=optional(rate(count["rsr_switched"], count["n_rsr_cases"])),
        wrong_adopted=count["wrong_adopted"],
        agree_before=optional(rate(count["agree_before"], count["n_cases"])),
        agree_after=optional(rate(count["agree_after"], count["n_cases"])),
        n_rair_cases=count["n_rair_cases"],
        n_rsr_cases=count["n_rsr_cases"],
    )


def switches(readings: AssistedReadings) -> tuple[SwitchRow, ...]:
    """A row per reader, in the readers' order, then a row per cohort (its readers' readings pooled)."""
    per_reader = _event_counts(readings)
    membership = readings.cohort_of == np.arange(len(readings.cohorts))[:, np.newaxis]
    per_cohort = membership.astype(np.int64) @ per_reader
    rows = [
        _row(READER, name, cohort, counts)
        for name, cohort, counts in zip(readings.readers, readings.reader_cohorts, per_reader)
    ]
    rows += [_row(COHORT, cohort, cohort, counts) for cohort, counts in zip(readings.cohorts, per_cohort)]
    return tuple(rows)
