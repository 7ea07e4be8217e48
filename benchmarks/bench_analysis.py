"""Speed of the analysis core on synthetic reading studies; prints figures, asserts nothing.

1. The paper's Table 2 and 3 for 28 readers x 200 samples (3 experts, 25 scholars and a model),
   with 1,000 tie-breaking repetitions of each ensemble.
2. 10,000 readers x 2,000 samples: every reader's figures and one ensemble of all readers, with the
   time and the peak memory.
3. A plain Python-loop majority-vote ensemble beside the vectorised one, on the study of case 1.
4. The whole report without figures (``analysis.report.compute_report``: Tables 2 and 3 with
   bootstrap intervals, every reader's confusion matrix, the cases, the model against the readers,
   agreement, the readers with their background, anchoring, test-retest on 10 repeated cases and reading
   time; then its JSON document and text and the CSV text of every table) for 28 readers x 200 samples
   and for 10,000 readers x 2,000 samples, with the peak memory; and apart, the page's tables made from
   the document (``analysis.tables.displayed``), which the analyst page renders, and the section an
   assisted study adds (``analysis.report_assistance``) for the same study read sequentially.

Run: ``.venv/bin/python benchmarks/bench_analysis.py``
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.ensembles import majority_vote_ensemble  # noqa: E402
from analysis.reader_metrics import confusion_matrix, readers_metrics  # noqa: E402
from analysis.report import compute_report  # noqa: E402
from analysis.report_assistance import assistance_section  # noqa: E402
from analysis.report_content import json_text  # noqa: E402
from analysis.report_inputs import SEQUENTIAL, AssistedArm, ModelAnswers, Person, Repeats, StudyAnswers  # noqa: E402
from analysis.report_tables import report_tables  # noqa: E402
from analysis.tables import csv_bytes, displayed  # noqa: E402
from analysis.significance import mcnemar_each, paired_table  # noqa: E402
from analysis.reader_arrays import NO_ANSWER  # noqa: E402

N_CLASSES = 13
N_REPETITIONS = 1000


def synthetic_study(seed: int, skills: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Truth and answers of readers with the given skills, on samples of varying difficulty.

    Each sample has an ease (how often a reader of full skill gets it right) and one look-alike class
    that most mistakes fall on, so readers err together as people do and ensembles meet ties. About
    1% of answers are left out. Answers are int8, as a large study would store them.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, N_CLASSES, n_samples)
    ease = rng.beta(4, 1.5, n_samples)
    look_alike = (truth + rng.integers(1, N_CLASSES, n_samples)) % N_CLASSES
    shape = (skills.size, n_samples)
    other = (truth + rng.integers(1, N_CLASSES, shape)) % N_CLASSES
    mistake = np.where(rng.random(shape) < 0.6, look_alike, other)
    correct = rng.random(shape) < skills[:, np.newaxis] * ease
    answers = np.where(correct, truth, mistake)
    answers[rng.random(shape) < 0.01] = NO_ANSWER
    return answers.astype(np.int8), truth


def table_2_and_3(model: np.ndarray, experts: np.ndarray, scholars: np.ndarray, truth: np.ndarray) -> None:
    readers_metrics(np.vstack([model, experts]), truth, N_CLASSES)
    readers_metrics(scholars, truth, N_CLASSES).mean()
    majority_vote_ensemble(experts, truth, N_CLASSES, n_repetitions=N_REPETITIONS, seed=0)
    majority_vote_ensemble(scholars, truth, N_CLASSES, n_repetitions=N_REPETITIONS, seed=0)
    mcnemar_each(paired_table(model == truth, experts == truth))
    confusion_matrix(np.vstack([model, experts]), truth, N_CLASSES).row_normalized


def plain_majority_vote(answers: np.ndarray, truth: np.ndarray, n_repetitions: int, seed: int) -> dict[str, float]:
    """The ensemble's mean accuracy and macro F1/precision/recall with plain Python loops."""
    rng = random.Random(seed)
    columns = [[int(a) for a in answers[:, j] if a != NO_ANSWER] for j in range(answers.shape[1])]
    totals = {"accuracy": 0.0, "f1": 0.0, "precision": 0.0, "recall": 0.0}
    for _ in range(n_repetitions):
        predictions = []
        for votes in columns:
            if not votes:
                predictions.append(NO_ANSWER)
                continue
            counts = Counter(votes)
            most = max(counts.values())
            predictions.append(rng.choice(sorted(c for c, n in counts.items() if n == most)))
        totals["accuracy"] += sum(p == t for p, t in zip(predictions, truth)) / len(predictions)
        f1s, precisions, recalls = [], [], []
        for c in range(N_CLASSES):
            tp = sum(p == c and t == c for p, t in zip(predictions, truth))
            predicted = sum(p == c for p in predictions)
            actual = sum(t == c for t in truth)
            precisions.append(tp / predicted if predicted else 0.0)
            recalls.append(tp / actual if actual else 0.0)
            f1s.append(2 * tp / (predicted + actual) if predicted + actual else 0.0)
        totals["f1"] += sum(f1s) / N_CLASSES
        totals["precision"] += sum(precisions) / N_CLASSES
        totals["recall"] += sum(recalls) / N_CLASSES
    return {name: total / n_repetitions for name, total in totals.items()}


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def small_study() -> tuple[np.ndarray, np.ndarray]:
    skills = np.concatenate([[1.0], np.full(3, 0.85), np.linspace(0.45, 0.85, 25)])
    answers, truth = synthetic_study(seed=1, skills=skills, n_samples=200)
    model, experts, scholars = answers[0], answers[1:4], answers[4:]
    seconds = [best_of(1, lambda: table_2_and_3(model, experts, scholars, truth)) for _ in range(5)]
    print("1. Table 2 + 3, 28 readers x 200 samples, 2 ensembles x 1,000 repetitions")
    print(f"   median {statistics.median(seconds):.3f} s, best {min(seconds):.3f} s (of 5 runs)")
    figures = readers_metrics(answers, truth, N_CLASSES)
    experts_ensemble = majority_vote_ensemble(experts, truth, N_CLASSES, n_repetitions=N_REPETITIONS)
    print(
        f"   (synthetic accuracies: model {figures.accuracy[0]:.2f}, experts {figures.accuracy[1:4].mean():.2f}, "
        f"scholars {figures.accuracy[4:].mean():.2f}, ensemble of experts {experts_ensemble.mean.accuracy:.2f})"
    )
    return scholars, truth


def loops_against_vectorised(scholars: np.ndarray, truth: np.ndarray) -> None:
    vectorised = best_of(3, lambda: majority_vote_ensemble(scholars, truth, N_CLASSES, n_repetitions=N_REPETITIONS))
    start = time.perf_counter()
    plain = plain_majority_vote(scholars, truth, N_REPETITIONS, seed=0)
    looped = time.perf_counter() - start
    result = majority_vote_ensemble(scholars, truth, N_CLASSES, n_repetitions=N_REPETITIONS)
    print("3. Ensemble of 25 scholars x 200 samples, 1,000 repetitions, figures included")
    print(f"   plain Python loops {looped:.3f} s, vectorised {vectorised:.4f} s, speed-up x{looped / vectorised:.0f}")
    print(
        f"   mean F1: loops {plain['f1']:.4f}, vectorised {result.mean.f1:.4f} "
        f"(different random draws; {result.n_tied} tied samples)"
    )


def large_study() -> None:
    skills = np.random.default_rng(2).uniform(0.3, 0.9, 10_000)
    answers, truth = synthetic_study(seed=3, skills=skills, n_samples=2_000)

    def work() -> None:
        readers_metrics(answers, truth, N_CLASSES)
        majority_vote_ensemble(answers, truth, N_CLASSES, n_repetitions=N_REPETITIONS, seed=0)

    seconds = best_of(1, work)
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("2. 10,000 readers x 2,000 samples: every reader's figures + one ensemble, 1,000 repetitions")
    print(f"   {seconds:.2f} s; peak traced allocation {peak / 2**20:.0f} MiB", end=" ")
    print(f"(the answers themselves: {answers.nbytes / 2**20:.0f} MiB);")
    print(f"   process peak RSS {max_rss:.0f} MiB")


def study_answers(n_scholars: int, n_samples: int, seed: int) -> StudyAnswers:
    """A model, 3 experts and ``n_scholars`` scholars as the report's input arrays."""
    skills = np.concatenate([[1.0], np.full(3, 0.85), np.random.default_rng(seed).uniform(0.4, 0.85, n_scholars)])
    answers, truth = synthetic_study(seed=seed, skills=skills, n_samples=n_samples)
    answers[0][answers[0] == NO_ANSWER] = truth[answers[0] == NO_ANSWER]  # a model predicts every sample
    people = [Person(f"expert-{i + 1:02d}", "expert", False) for i in range(3)]
    people += [Person(f"scholar-{i + 1:05d}", "scholar", i % 2 == 0) for i in range(n_scholars)]
    # What the sections on the readers need: seconds per answer, looked-up classes, 10 cases read twice.
    rng = np.random.default_rng(seed + 1)
    readers = answers[1:]
    repeated = np.sort(rng.choice(n_samples, 10, replace=False))
    first = readers[:, repeated]
    second = np.where(rng.random(first.shape) < 0.8, first, rng.integers(0, N_CLASSES, first.shape))
    second = np.where(first == NO_ANSWER, NO_ANSWER, second).astype(first.dtype)
    return StudyAnswers(
        study="benchmark",
        dataset="synthetic",
        class_names=tuple(f"class {c}" for c in range(N_CLASSES)),
        sample_ids=tuple(f"s{i:05d}" for i in range(n_samples)),
        positions=np.arange(n_samples),
        truth=truth.astype(np.int64),
        people=tuple(people),
        answers=readers,
        models=(ModelAnswers("model", "finetuned", answers[0].astype(np.int64)),),
        seconds=rng.lognormal(np.log(25.0), 0.6, readers.shape).round(1),
        looked_up=rng.random(readers.shape) < 0.3,
        repeats=Repeats(n_configured=10, columns=repeated, first=first, second=second),
        covariate_keys=("years",),
        covariates={p.pseudonym: {"years": int(y)} for p, y in zip(people, rng.integers(0, 30, len(people)))},
    )


def read_with_suggestions(data: StudyAnswers, seed: int) -> StudyAnswers:
    """The same study read sequentially: a suggestion right 90% of the time, which each reader takes, where it
    differs from their answer alone, with a probability of their own; a few seconds after it."""
    rng = np.random.default_rng(seed)
    shape, truth = data.answers.shape, data.truth
    suggestion = np.where(rng.random(truth.size) < 0.9, truth, (truth + rng.integers(1, N_CLASSES, truth.size)) % N_CLASSES)
    answered = data.answers != NO_ANSWER
    follows = rng.random(shape) < rng.uniform(0.2, 0.8, (shape[0], 1))
    aided = np.where(answered, np.where(follows, suggestion, data.answers), NO_ANSWER).astype(data.answers.dtype)
    after = rng.lognormal(np.log(6.0), 0.6, shape).round(1)
    arm = AssistedArm(
        design=SEQUENTIAL, source="model", aided=aided,
        suggestion=np.where(answered, suggestion, NO_ANSWER).astype(data.answers.dtype),
        controlled=np.zeros(shape, dtype=bool), aided_seconds=after, seconds_after_suggestion=after,
        unaided_session=answered.astype(np.int8), aided_session=answered.astype(np.int8),
        sequence_groups=(None,) * shape[0],
    )
    return replace(data, assisted=arm)


def report_without_figures(data: StudyAnswers) -> int:
    """The report's computation and its files' text as ``analysis.report_files`` writes them, but for the
    figures and each reader's own confusion-matrix files; the size of that text."""
    report = compute_report(data, seed=0, repetitions=N_REPETITIONS, allow_missing=True)
    document = report.to_dict()
    size = len(json_text(document))
    return size + sum(len(csv_bytes(table)) for table in report_tables(document) if table.columns)


def page_tables(data: StudyAnswers) -> tuple[float, int]:
    """Seconds to make the page's tables from a computed report's document, and their rows."""
    document = compute_report(data, seed=0, repetitions=N_REPETITIONS, allow_missing=True).to_dict()
    start = time.perf_counter()
    shown = [displayed(table) for table in report_tables(document) if table.on_page]
    return time.perf_counter() - start, sum(table.n_rows for table in shown)


def whole_report() -> None:
    print("4. The whole report without figures (compute, then JSON and CSV text), 1,000 repetitions")
    for n_scholars, n_samples, runs in ((25, 200, 3), (9_997, 2_000, 3)):
        data = study_answers(n_scholars, n_samples, seed=5)
        report_without_figures(data)  # warm-up, out of the timing
        seconds = [best_of(1, lambda: report_without_figures(data)) for _ in range(runs)]
        tracemalloc.start()
        size = report_without_figures(data)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"   {n_scholars + 3:,} readers x {n_samples:,} samples: median {statistics.median(seconds):.2f} s, "
            f"best {min(seconds):.2f} s (of {runs}); peak traced allocation {peak / 2**20:.0f} MiB; "
            f"report text {size / 2**20:.1f} MiB"
        )
        took, rows = page_tables(data)
        print(f"   the page's tables of it: {took:.2f} s for {rows:,} rows")
        assisted = read_with_suggestions(data, seed=7)
        took = best_of(1, lambda: assistance_section(assisted))
        print(f"   the same study read sequentially with suggestions: its assisted arm's section {took:.2f} s more")
    print(f"   process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"   (load average when done: {', '.join(f'{value:.1f}' for value in os.getloadavg())})")


if __name__ == "__main__":
    study_scholars, study_truth = small_study()
    large_study()
    loops_against_vectorised(study_scholars, study_truth)
    whole_report()
