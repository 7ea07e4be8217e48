"""Seeded, stratified train/validation/test splits and the selection of a study's samples.

Splitting uses iterative stratification (Sechidis, Tsoumakas & Vlahavas 2011, "On the
stratification of multi-label data", ECML PKDD): the rarest class is distributed first, each of
its samples going to the split that most lacks that class, so that every class keeps close to the
requested ratios even when samples carry several classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_NAMES = ("train", "val", "test")


def stratified_split(labels: np.ndarray, ratios: tuple[float, ...], seed: int) -> np.ndarray:
    """Split index (0, 1, 2 ...) per sample of a boolean ``(n_samples, n_classes)`` label matrix.

    The result depends only on the matrix, its row order, the ratios and the seed.
    """
    labels = np.asarray(labels, dtype=bool)
    ratios_array = np.asarray(ratios, dtype=float)
    if ratios_array.ndim != 1 or (ratios_array < 0).any() or not np.isclose(ratios_array.sum(), 1.0):
        raise ValueError(f"ratios {tuple(ratios)} must be non-negative and add up to 1")
    rng = np.random.default_rng(seed)
    n_samples, n_classes = labels.shape
    order = rng.permutation(n_samples)
    labels = labels[order]
    wanted_total = ratios_array * n_samples
    wanted_per_class = ratios_array[:, None] * labels.sum(axis=0)[None, :]
    assignment = np.full(n_samples, -1)
    remaining = labels.copy()

    while remaining.any():
        counts = remaining.sum(axis=0)
        rarest = int(np.argmin(np.where(counts > 0, counts, np.iinfo(np.int64).max)))
        for row in np.flatnonzero(remaining[:, rarest]):
            # A split that is full takes no more samples, so the totals keep to the ratios too.
            open_splits = np.flatnonzero(wanted_total > 0.5)
            if len(open_splits) == 0:
                open_splits = np.arange(len(ratios_array))
            lack = wanted_per_class[open_splits, rarest]
            best = open_splits[lack == lack.max()]
            if len(best) > 1:
                best = best[wanted_total[best] == wanted_total[best].max()]
            split = int(best[0] if len(best) == 1 else rng.choice(best))
            assignment[row] = split
            wanted_per_class[split] -= labels[row]
            wanted_total[split] -= 1
            remaining[row] = False

    for row in np.flatnonzero(assignment < 0):  # samples without any label
        best = np.flatnonzero(wanted_total == wanted_total.max())
        split = int(best[0] if len(best) == 1 else rng.choice(best))
        assignment[row] = split
        wanted_total[split] -= 1

    result = np.empty(n_samples, dtype=int)
    result[order] = assignment
    return result


@dataclass(frozen=True)
class StudySelection:
    positions: list[int]  # indices into the candidates, in the study's order
    per_class: dict[int, int]


def select_study_samples(
    candidate_classes: list[int], size: int, seed: int, balanced: bool, n_classes: int
) -> StudySelection:
    """Choose ``size`` of the single-location candidates, at random or balanced across classes.

    Balanced takes an equal share of every class (classes with too few samples give all they have,
    and the rest is spread over the others), so that rare classes are read often enough to measure.
    """
    classes = np.asarray(candidate_classes, dtype=int)
    if size > len(classes):
        raise ValueError(f"asked for {size} samples but only {len(classes)} single-location test samples exist")
    rng = np.random.default_rng(seed)
    if not balanced:
        chosen = rng.choice(len(classes), size=size, replace=False)
    else:
        pools = [list(rng.permutation(np.flatnonzero(classes == c))) for c in range(n_classes)]
        quota = np.zeros(n_classes, dtype=int)
        available = np.array([len(pool) for pool in pools])
        left = size
        while left > 0:
            open_classes = np.flatnonzero(quota < available)
            share = max(1, left // len(open_classes))
            for c in rng.permutation(open_classes):
                take = min(share, available[c] - quota[c], left)
                quota[c] += take
                left -= take
                if left == 0:
                    break
        chosen = np.concatenate([np.asarray(pools[c][: quota[c]], dtype=int) for c in range(n_classes)])
        chosen = rng.permutation(chosen)
    per_class = {int(c): int(n) for c, n in zip(*np.unique(classes[chosen], return_counts=True))}
    return StudySelection([int(i) for i in chosen], per_class)
