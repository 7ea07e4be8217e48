"""Speed of the assisted arm's analysis (``analysis.assistance*``); prints figures, asserts nothing.

A sequential study on synthetic, seeded answers (13 classes; two cohorts; a suggestion right 90% of the
time that readers take with a probability of their own), for 30 readers x 200 cases and 1,000 readers
x 2,000 cases: each part of the analysis timed (median of a few runs), then all of it together.

Run: ``.venv/bin/python benchmarks/bench_assistance.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.assistance import assisted_readings, orh_aided_vs_unaided, suggestion_strata  # noqa: E402
from analysis.assistance_readers import reader_changes  # noqa: E402
from analysis.assistance_switches import switches  # noqa: E402
from analysis.assistance_time import assisted_reading_time, crossover_effects  # noqa: E402

N_CLASSES = 13


def synthetic_study(seed: int, n_readers: int, n_cases: int) -> dict:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n_cases)
    shape = (n_readers, n_cases)
    suggestion = np.where(rng.random(n_cases) < 0.9, truth, (truth + rng.integers(1, N_CLASSES, n_cases)) % N_CLASSES)
    skill = rng.uniform(0.45, 0.85, (n_readers, 1))
    unaided = np.where(rng.random(shape) < skill, truth, (truth + rng.integers(1, N_CLASSES, shape)) % N_CLASSES)
    aided = np.where(rng.random(shape) < rng.uniform(0.2, 0.8, (n_readers, 1)), suggestion, unaided)
    readings = assisted_readings(
        unaided.astype(np.int8), aided.astype(np.int8), suggestion, truth, N_CLASSES,
        readers=[f"reader-{j}" for j in range(n_readers)],
        cohorts=["expert" if j < n_readers // 4 else "scholar" for j in range(n_readers)],
    )
    block_first = (np.arange(n_cases) // 10) % 2 == 0
    group_b = (np.arange(n_readers) % 2 == 1)[:, np.newaxis]
    aided_session = np.where(block_first ^ group_b, 1, 2)
    return {
        "arrays": (unaided, aided, suggestion, truth),
        "readings": readings,
        "unaided_seconds": rng.gamma(2.0, 15.0, shape),
        "aided_seconds": rng.gamma(2.0, 12.0, shape),
        "after": rng.gamma(2.0, 4.0, shape),
        "aided_session": aided_session,
        "sequence": ["A" if j % 2 == 0 else "B" for j in range(n_readers)],
    }


def timed(work, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def case(number: int, n_readers: int, n_cases: int, repeats: int) -> None:
    study = synthetic_study(number, n_readers, n_cases)
    readings = study["readings"]
    parts = {
        "checking the arrays": lambda: assisted_readings(
            *study["arrays"], N_CLASSES, readers=readings.readers, cohorts=readings.reader_cohorts
        ),
        "ORH aided vs unaided, accuracy and macro F1, 2 cohorts + all": lambda: orh_aided_vs_unaided(readings),
        "each reader's change, CI and McNemar": lambda: reader_changes(readings),
        "switches (RAIR, RSR, harmful, adopted, agreement)": lambda: switches(readings),
        "accuracy by suggestion right/wrong": lambda: suggestion_strata(readings),
        "reading time and seconds after the suggestion": lambda: assisted_reading_time(
            readings, study["unaided_seconds"], study["aided_seconds"], seconds_after_suggestion=study["after"]
        ),
        "crossover period, sequence, carry-over": lambda: crossover_effects(
            readings, 3 - study["aided_session"], study["aided_session"], study["sequence"]
        ),
    }
    print(f"{number}. Assisted arm, {n_readers:,} readers x {n_cases:,} cases (median of {repeats})")
    total = 0.0
    for name, work in parts.items():
        seconds = timed(work, repeats)
        total += seconds
        print(f"   {name:<62} {seconds:8.4f} s")
    print(f"   {'all of it':<62} {total:8.4f} s")
    row = orh_aided_vs_unaided(readings, foms=["accuracy"]).rows[-3]
    print(
        f"   (all readers: unaided {row.unaided_fom:.3f}, aided {row.aided_fom:.3f}, effect {row.effect:+.3f}, "
        f"95% CI [{row.ci_low:+.3f}, {row.ci_high:+.3f}], df {row.df:.1f})"
    )


if __name__ == "__main__":
    case(1, n_readers=30, n_cases=200, repeats=5)
    case(2, n_readers=1_000, n_cases=2_000, repeats=3)
