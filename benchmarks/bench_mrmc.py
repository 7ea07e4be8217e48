"""Speed of the ORH model-vs-readers analysis (``analysis.mrmc``); prints figures, asserts nothing.

A model against a cohort of readers on synthetic, seeded class answers (13 classes, accuracy FOM; the
macro F1 beside it), for 28 readers x 200 samples and 1,000 readers x 2,000 samples (targets: under
1 s and under 30 s). Beside each, a plain jackknife that recomputes every reader's figures once per
left-out case (``analysis.reader_metrics.readers_metrics`` in a loop over cases): in full at the small size,
over the first cases and extrapolated at the large one. Both give the same p-values.

Run: ``.venv/bin/python benchmarks/bench_mrmc.py``
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.mrmc import JackknifeFOM, model_vs_readers, model_vs_readers_on_answers  # noqa: E402
from analysis.reader_metrics import readers_metrics  # noqa: E402

N_CLASSES = 13
# Cases the plain loop goes through at the large size before its time is extrapolated.
LOOP_SAMPLE = 40


def synthetic_answers(seed: int, n_readers: int, n_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Truth, a model's answers (75% right) and readers' answers (skills 45-85%), errors among look-alikes."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n_samples)
    look_alike = (truth + rng.integers(1, N_CLASSES, n_samples)) % N_CLASSES
    skills = np.concatenate([[0.75], rng.uniform(0.45, 0.85, n_readers)])
    shape = (skills.size, n_samples)
    other = (truth + rng.integers(1, N_CLASSES, shape)) % N_CLASSES
    mistake = np.where(rng.random(shape) < 0.6, look_alike, other)
    answers = np.where(rng.random(shape) < skills[:, np.newaxis], truth, mistake).astype(np.int8)
    return truth, answers[0], answers[1:]


def plain_jackknife(model: np.ndarray, readers: np.ndarray, truth: np.ndarray, cases: int) -> np.ndarray:
    """Every reader's accuracy without case k, for the first ``cases`` cases, one case at a time."""
    everyone = np.vstack([model, readers])
    columns = []
    for k in range(cases):
        kept = np.arange(truth.size) != k
        columns.append(readers_metrics(everyone[:, kept], truth[kept], N_CLASSES).accuracy)
    return np.stack(columns, axis=1)


def timed(work, repeats: int) -> tuple[float, object]:
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def case(number: int, n_readers: int, n_samples: int, target: float, repeats: int) -> None:
    truth, model, readers = synthetic_answers(seed=number, n_readers=n_readers, n_samples=n_samples)
    vectorised, result = timed(lambda: model_vs_readers_on_answers(model, readers, truth, N_CLASSES), repeats)
    macro_f1, _ = timed(lambda: model_vs_readers_on_answers(model, readers, truth, N_CLASSES, fom="f1"), repeats)
    loop_cases = n_samples if n_samples <= 200 else LOOP_SAMPLE
    start = time.perf_counter()
    jackknife = plain_jackknife(model, readers, truth, loop_cases)
    looped = (time.perf_counter() - start) * n_samples / loop_cases
    print(f"{number}. Model vs {n_readers:,} readers x {n_samples:,} samples, accuracy, ORH (target < {target:g} s)")
    print(f"   vectorised {vectorised:.3f} s (median of {repeats}); macro F1 {macro_f1:.3f} s")
    if loop_cases == n_samples:
        everyone = np.vstack([model, readers])
        full = readers_metrics(everyone, truth, N_CLASSES).accuracy
        plain = model_vs_readers(JackknifeFOM(full[:1], jackknife[:1]), JackknifeFOM(full[1:], jackknife[1:]))
        gap = abs(plain.random_readers_random_cases.p_value - result.random_readers_random_cases.p_value)
        print(f"   plain per-case loop {looped:.2f} s, x{looped / vectorised:.0f}; p-values differ by {gap:.1e}")
    else:
        print(
            f"   plain per-case loop {looped:.0f} s (extrapolated from {loop_cases} of {n_samples:,} cases), "
            f"x{looped / vectorised:.0f}"
        )
    test = result.random_readers_random_cases
    print(
        f"   (model {result.model_fom:.3f}, readers {result.mean_reader_fom:.3f}; effect {result.effect:+.3f}, "
        f"95% CI [{test.ci_low:+.3f}, {test.ci_high:+.3f}], t {test.t:.2f}, df {test.df:.1f}, p {test.p_value:.2g})"
    )


if __name__ == "__main__":
    case(1, n_readers=28, n_samples=200, target=1, repeats=5)
    case(2, n_readers=1_000, n_samples=2_000, target=30, repeats=3)
