"""Training crops and whole validation images, read from the training store (``study.store``).

Crop positions come from a generator seeded by ``(seed, epoch, sample)``, never from a worker's
state, so a batch is the same whatever the number of DataLoader workers, and a resumed run reads
exactly the crops that an uninterrupted one would. The sampler tags every index with its epoch
for that reason: persistent workers keep their own copy of the dataset and would not see an
epoch set on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from study.store import TrainingStore, random_crop, zscore

if TYPE_CHECKING:
    from study.models import Dataset as StudyDataset


@dataclass(frozen=True)
class SplitSamples:
    """The samples of one split: store keys and targets in the same order.

    ``targets`` is ``(n, num_classes)`` float32 multi-hot for multi-label training, or ``(n,)``
    int64 class indices for single-class training (only samples with exactly one location).
    """

    sample_ids: list[int]
    store_keys: list[str]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.store_keys)


def split_samples(
    dataset: StudyDataset, split: str, single_class: bool = False, limit: int | None = None, seed: int = 0
) -> SplitSamples:
    """The ``split`` samples of ``dataset`` with their reference labels, ordered by source id.

    ``limit`` keeps a seeded random subset of that many samples (in source-id order).
    """
    # Imported here so that the datasets below work without Django (benchmarks, other programs).
    from study.models import Sample

    num_classes = len(dataset.label_set)
    samples = list(
        Sample.objects.filter(dataset=dataset, split=split).order_by("source_id").prefetch_related("reference_labels")
    )
    labelled = [(sample, [label.class_index for label in sample.reference_labels.all()]) for sample in samples]
    if single_class:
        labelled = [(sample, classes) for sample, classes in labelled if len(classes) == 1]
    if limit is not None and limit < len(labelled):
        keep = np.sort(np.random.default_rng(seed).choice(len(labelled), size=limit, replace=False))
        labelled = [labelled[i] for i in keep]
    if single_class:
        targets = np.array([classes[0] for _, classes in labelled], dtype=np.int64)
    else:
        targets = np.zeros((len(labelled), num_classes), dtype=np.float32)
        for row, (_, classes) in enumerate(labelled):
            targets[row, classes] = 1.0
    return SplitSamples(
        sample_ids=[sample.pk for sample, _ in labelled],
        store_keys=[sample.store_key for sample, _ in labelled],
        targets=targets,
    )


def augment(crop: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One of the eight flips and quarter turns of a square crop (microscopy has no up or left)."""
    turns = int(rng.integers(4))
    crop = torch.rot90(crop, turns, dims=(1, 2))
    return torch.flip(crop, dims=(2,)) if rng.integers(2) else crop


class CropDataset(Dataset):
    """One random ``crop`` x ``crop`` window per sample, z-scored per channel; indexed by
    ``(sample, epoch)``."""

    def __init__(self, store_root: Path, samples: SplitSamples, crop: int, seed: int, augment: bool = False):
        self.store_root = Path(store_root)
        self.samples = samples
        self.crop = crop
        self.seed = seed
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, tagged: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = tagged
        rng = np.random.default_rng([self.seed, epoch, index])
        image = TrainingStore(self.store_root).open(self.samples.store_keys[index])
        crop = random_crop(image, self.crop, rng)
        if self.augment:
            crop = augment(crop, rng)
        return crop, torch.as_tensor(self.samples.targets[index])


class WholeImageDataset(Dataset):
    """Whole images z-scored per channel over their whole area (how tiles are evaluated)."""

    def __init__(self, store_root: Path, samples: SplitSamples):
        self.store_root = Path(store_root)
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        image = TrainingStore(self.store_root).open(self.samples.store_keys[index])
        return index, zscore(np.asarray(image))


class EpochSampler(Sampler):
    """``DistributedSampler``'s seeded shuffle of this rank's share, each index tagged with its epoch.

    With one process it is a seeded shuffle of all samples; its whole state is ``(seed, epoch)``.
    """

    def __init__(self, dataset: Dataset, seed: int, rank: int = 0, world_size: int = 1):
        self.inner = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((index, self.epoch) for index in self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def loader_options(workers: int, pin_memory: bool) -> dict:
    options = {"num_workers": workers, "pin_memory": pin_memory}
    if workers > 0:
        options.update(persistent_workers=True, prefetch_factor=4)
    return options


def train_loader(
    dataset: CropDataset, sampler: EpochSampler, batch_size: int, workers: int, pin_memory: bool
) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **loader_options(workers, pin_memory))


def whole_image_loader(dataset: WholeImageDataset, indices: list[int], workers: int, pin_memory: bool) -> DataLoader:
    """One whole image at a time (sizes differ), read ahead by ``workers`` processes."""
    return DataLoader(dataset, batch_size=None, sampler=indices, **loader_options(workers, pin_memory))
