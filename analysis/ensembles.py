"""Majority-vote ensembles of readers, with ties broken at random (the paper's Table 2).

For each sample the ensemble answers the class with most votes among the group's answers (no-answers
ignored). When several classes share the most votes, one of them is drawn uniformly at random; as in
the paper, the draw is repeated (1,000 times by default) and the figures are averaged over the
repetitions. A sample that nobody in the group answered stays unanswered (-1).

Vectorised: votes are counted once, the tie sets are found once, and only the tied samples get
random draws, ``(repetitions, tied samples)`` uniforms at a time, chunked over repetitions. Drawing
``floor(u * k)`` for a tie among ``k`` classes picks each with probability ``1/k``, the same law as
an argmax of random keys over the tied classes, at a fraction of the memory. Uniform doubles use
the generator's stream one number each, so the result depends on the seed only, not on the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.reader_arrays import NO_ANSWER, check_answers, check_seed, jsonable
from analysis.reader_metrics import CHUNK_ELEMENTS, ReaderMetrics, SummaryMetrics, confusion_counts
from models_zoo.classification_figures import MetricInputError, check_truth

DEFAULT_REPETITIONS = 1000


def vote_counts(answers: Any, n_classes: int) -> np.ndarray:
    """Votes per sample and class, ``(n_samples, n_classes)``, from ``(n_readers, n_samples)`` answers."""
    matrix = check_answers(answers, n_classes)
    n_readers, n_samples = matrix.shape
    width = n_classes + 1
    sample_offsets = np.arange(n_samples, dtype=np.int64) * width
    counts = np.zeros(n_samples * width, dtype=np.int64)
    readers_per_chunk = max(1, CHUNK_ELEMENTS // n_samples)
    for start in range(0, n_readers, readers_per_chunk):
        chunk = matrix[start : start + readers_per_chunk].astype(np.int64)
        cell = sample_offsets + np.where(chunk < 0, n_classes, chunk)
        counts += np.bincount(cell.ravel(), minlength=n_samples * width)
    return counts.reshape(n_samples, width)[:, :n_classes]


@dataclass(frozen=True, eq=False)
class MajorityVote:
    """The votes of a group of readers and what a tie-breaking draw needs: the plain majority
    ``(n_samples,)`` (-1 where nobody answered), which samples are tied, and their tied classes."""

    votes: np.ndarray
    plain_majority: np.ndarray
    tied: np.ndarray
    tied_samples: np.ndarray
    tied_classes: np.ndarray
    tie_sizes: np.ndarray

    @classmethod
    def of(cls, answers: Any, n_classes: int) -> MajorityVote:
        votes = vote_counts(answers, n_classes)
        most = votes.max(axis=1)
        answered = most > 0
        leaders = (votes == most[:, np.newaxis]) & answered[:, np.newaxis]
        n_leaders = leaders.sum(axis=1)
        tied = n_leaders > 1
        tied_samples = np.flatnonzero(tied)
        return cls(
            votes=votes,
            plain_majority=np.where(answered, votes.argmax(axis=1), NO_ANSWER),
            tied=tied,
            tied_samples=tied_samples,
            # The tied classes of each tied sample first, in class order; a draw j in [0, k) picks the j-th.
            tied_classes=np.argsort(~leaders[tied_samples], axis=1, kind="stable"),
            tie_sizes=n_leaders[tied_samples],
        )

    def draw(self, rng: np.random.Generator, n_draws: int) -> np.ndarray:
        """``n_draws`` answers of the ensemble ``(n_draws, n_samples)``, each tie drawn anew; uses
        ``(n_draws, tied samples)`` uniforms of ``rng`` (none when nothing is tied)."""
        chunk = np.repeat(self.plain_majority[np.newaxis, :], n_draws, axis=0)
        if self.tied_samples.size:
            uniforms = rng.random((n_draws, self.tied_samples.size))
            # floor(u * k) can round up to k for u within an ulp of 1; keep it inside the tie set.
            draws = np.minimum((uniforms * self.tie_sizes).astype(np.int64), self.tie_sizes - 1)
            chunk[:, self.tied_samples] = self.tied_classes[np.arange(self.tied_samples.size), draws]
        return chunk


@dataclass(frozen=True, eq=False)
class EnsembleResult:
    """Figures of a majority-vote ensemble, averaged over the tie-breaking repetitions.

    ``repetitions`` holds the figures of every repetition; ``predictions`` the answers of every
    repetition ``(n_repetitions, n_samples)`` when they were asked for, else ``None``; ``tied`` marks
    the samples whose answer was drawn.
    """

    mean: SummaryMetrics
    std: SummaryMetrics
    repetitions: ReaderMetrics
    vote_counts: np.ndarray
    tied: np.ndarray
    n_readers: int
    n_repetitions: int
    seed: int
    predictions: np.ndarray | None

    @property
    def n_tied(self) -> int:
        return int(self.tied.sum())

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "mean": self.mean.to_dict(),
                "std": self.std.to_dict(),
                "n_readers": self.n_readers,
                "n_repetitions": self.n_repetitions,
                "seed": self.seed,
                "n_tied": self.n_tied,
            }
        )


def majority_vote_ensemble(
    answers: Any,
    truth: Any,
    n_classes: int,
    *,
    n_repetitions: int = DEFAULT_REPETITIONS,
    seed: int = 0,
    keep_predictions: bool = False,
    zero_division: float = 0.0,
    unanswered: str = "wrong",
    vote: MajorityVote | None = None,
) -> EnsembleResult:
    """Majority vote of the readers of ``answers`` ``(n_readers, n_samples)``, ties drawn ``n_repetitions`` times.

    The figures are those of ``analysis.reader_metrics.readers_metrics`` for each repetition; ``mean`` and
    ``std`` (population) summarise them. Same seed, same numbers. ``vote`` is ``MajorityVote.of(answers,
    n_classes)`` when the caller has counted the votes already (for the bootstrap too, say).
    """
    if isinstance(n_repetitions, bool) or not isinstance(n_repetitions, (int, np.integer)) or n_repetitions < 1:
        raise MetricInputError(f"n_repetitions: expected a positive integer, got {n_repetitions!r}")
    matrix = check_answers(answers, n_classes)
    n_readers, n_samples = matrix.shape
    labels = check_truth(truth, n_classes, n_samples=n_samples)
    if labels.ndim != 1:
        raise MetricInputError(f"truth: expected shape ({n_samples},), got {labels.shape}")
    ties = MajorityVote.of(matrix, n_classes) if vote is None else vote
    rng = np.random.default_rng(check_seed(seed))
    counts = np.empty((n_repetitions, n_classes, n_classes + 1), dtype=np.int64)
    predictions = np.empty((n_repetitions, n_samples), dtype=np.int64) if keep_predictions else None
    repetitions_per_chunk = max(1, CHUNK_ELEMENTS // n_samples)
    for start in range(0, n_repetitions, repetitions_per_chunk):
        stop = min(start + repetitions_per_chunk, n_repetitions)
        chunk = ties.draw(rng, stop - start)
        counts[start:stop] = confusion_counts(chunk, labels, n_classes)
        if predictions is not None:
            predictions[start:stop] = chunk
    repetitions = ReaderMetrics.from_confusion_counts(counts, zero_division=zero_division, unanswered=unanswered)
    return EnsembleResult(
        mean=repetitions.mean(),
        std=repetitions.std(),
        repetitions=repetitions,
        vote_counts=ties.votes,
        tied=ties.tied,
        n_readers=n_readers,
        n_repetitions=int(n_repetitions),
        seed=int(seed),
        predictions=predictions,
    )
