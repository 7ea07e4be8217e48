"""Training crops and whole validation images, read from the sample store (``study.store``).

Crop positions and augmentations come from a generator seeded by ``(seed, epoch, sample)``, never
from a worker's state, so a batch is the same whatever the number of DataLoader workers, and a
resumed run reads exactly the crops that an uninterrupted one would. The sampler tags every index
with its epoch for that reason: persistent workers keep their own copy of the dataset and would not
see an epoch set on it.

Training batches leave the loader raw: the stored 8- or 16-bit pixels, copied once from the memory
map straight into the batch, a quarter or half of the bytes of float32 crops. The batches are slots
of a ring of buffers (:class:`CropRing`, in shared memory when workers read them) reused batch after
batch: fresh shared memory costs a page fault per 4 KiB, as much again as the copy. They are z-scored
per crop and channel where the model runs (:func:`device_crops`), as ``models_zoo.training.crops.zscore`` z-scores
one crop on the CPU. A 16-bit batch travels as ``int16`` holding the ``uint16`` bits (torch's
``uint16`` supports few operations); :func:`zscore_crops` reads it back. Every batch carries the
seconds its process spent reading it, so that the loop can say how many crops per second the loader
delivers beside the rate the model trains at.
"""

from __future__ import annotations

import itertools
import math
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, get_worker_info

from models_zoo.training.config import ConfigError
from models_zoo.training.crops import crop_box, random_crop, read_crop, zscore
from study.store import CHANNELS, SampleStore

if TYPE_CHECKING:
    from study.models import Dataset as StudyDataset

# Batches each loader worker reads ahead. The ring holds workers x 2 + 2 batches, with room for
# 16-bit pixels: with 8 workers and batches of 40 1024 px crops, 5.6 GiB of /dev/shm per training
# process (float32 crops and a read-ahead of 4 took 20 GiB).
PREFETCH_BATCHES = 2


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


class CropBatch(NamedTuple):
    """A batch as the loader hands it over: raw pixels, targets, and what reading them cost."""

    images: torch.Tensor  # (N, C, crop, crop): uint8, or int16 holding uint16 bits
    targets: torch.Tensor
    read_seconds: float  # spent by the process that read the batch, in it


def empty_batch(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised tensor; in shared memory inside a loader worker, so that handing it to the
    training process copies nothing (as ``default_collate`` does). In the training process itself it
    comes from NumPy, which asks for huge pages: torch's allocator pays a page fault every 4 KiB of a
    fresh batch, as long as copying the crops into it."""
    if get_worker_info() is None:
        return torch.from_numpy(np.empty(shape, dtype=torch.empty((), dtype=dtype).numpy().dtype))
    itemsize = torch.empty((), dtype=dtype).element_size()
    storage = torch.UntypedStorage._new_shared(math.prod(shape) * itemsize)
    return torch.empty(0, dtype=dtype).set_(storage, 0, shape)


def first_item(items: list):
    """The loader's ``collate_fn``: ``__getitems__`` returns a whole batch as one item."""
    return items[0]


class CropDataset(Dataset):
    """One random ``crop`` x ``crop`` window per sample and epoch; indexed by ``(sample, epoch)``.

    ``dataset[(sample, epoch)]`` is one crop z-scored on the CPU (``models_zoo.training.crops.random_crop``);
    the loader takes whole raw batches through ``__getitems__`` instead, the same windows, flips
    and turns, to be z-scored by :func:`zscore_crops` where the model runs.
    """

    def __init__(self, store: SampleStore, samples: SplitSamples, crop: int, seed: int, augment: bool = False):
        self.store = store
        self.samples = samples
        self.crop = crop
        self.seed = seed
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def rng(self, index: int, epoch: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, epoch, index])

    def open(self, index: int) -> np.ndarray:
        return self.store.open(self.samples.store_keys[index])

    def __getitem__(self, tagged: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = tagged
        rng = self.rng(index, epoch)
        crop = random_crop(self.open(index), self.crop, rng)
        if self.augment:
            crop = augment(crop, rng)
        return crop, torch.as_tensor(self.samples.targets[index])

    def read_window(self, image: np.ndarray, rng: np.random.Generator, out: np.ndarray) -> None:
        """Copy the crop that ``rng`` picks (flipped and turned with ``augment``) into ``out``:
        the window of :func:`random_crop` and the transform of :func:`augment`, raw."""
        size = self.crop
        top, left = crop_box(image.shape[1], image.shape[2], size, rng)
        window = image[:, top : top + size, left : left + size]
        if window.shape[1:] != (size, size):
            window = read_crop(image, top, left, size)  # zero-padded
        if self.augment:
            window = np.rot90(window, int(rng.integers(4)), axes=(1, 2))
            if rng.integers(2):
                window = window[:, :, ::-1]
        np.copyto(out, window, casting="safe")

    def __getitems__(self, tagged: list[tuple[int, int]]) -> list[CropBatch]:
        """The batch of ``tagged`` samples as one :class:`CropBatch` (in a list, as a DataLoader's
        fetcher wants) in a new tensor, each crop copied once, from the memory map into the batch."""
        return [self.read_batch(tagged)]

    def read_batch(
        self, tagged: list[tuple[int, int]], into: Callable[[tuple[int, ...], bool], torch.Tensor] | None = None
    ) -> CropBatch:
        """The raw crops of ``tagged`` in ``into(shape, wide)`` (a new tensor by default), wide (16-bit)
        where any of the images is."""
        started = time.perf_counter()
        images = [self.open(index) for index, _ in tagged]
        wide = any(image.dtype != np.uint8 for image in images)
        shape = (len(tagged), images[0].shape[0], self.crop, self.crop)
        batch = empty_batch(shape, torch.int16 if wide else torch.uint8) if into is None else into(shape, wide)
        pixels = batch.numpy().view(np.uint16) if wide else batch.numpy()
        for row, ((index, epoch), image) in enumerate(zip(tagged, images)):
            self.read_window(image, self.rng(index, epoch), pixels[row])
        targets = torch.as_tensor(self.samples.targets[[index for index, _ in tagged]])
        return CropBatch(batch, targets, time.perf_counter() - started)


class CropRing:
    """``slots`` batch buffers, written by the loader's processes and read by the training process,
    one batch after another: the ``n``-th batch of an epoch goes to slot ``n % slots``.

    A fresh batch in shared memory costs its writer a page fault per 4 KiB, the kernel zeroing each
    page, as long again as copying the crops into it (/dev/shm has no huge pages), and its reader
    another fault per page; a ring is touched once. ``slots`` is the loader's read-ahead plus 2: when
    the training process takes batch ``n``, the loader starts writing batch ``n + read-ahead``, into
    the slot of batch ``n - 2``, which the training process is done with.
    """

    _live: weakref.WeakValueDictionary[int, CropRing] = weakref.WeakValueDictionary()
    _numbers = itertools.count()

    def __init__(self, slots: int, slot_bytes: int, shared: bool):
        self.number = next(CropRing._numbers)
        self.slot_bytes = slot_bytes
        self.buffers = [shared_bytes(slot_bytes) if shared else bytes_in_memory(slot_bytes) for _ in range(slots)]
        CropRing._live[self.number] = self

    def __len__(self) -> int:
        return len(self.buffers)

    def view(self, slot: int, shape: tuple[int, ...], wide: bool) -> torch.Tensor:
        count = math.prod(shape) * (2 if wide else 1)
        return self.buffers[slot][:count].view(torch.int16 if wide else torch.uint8).view(shape)


def shared_bytes(count: int) -> torch.Tensor:
    storage = torch.UntypedStorage._new_shared(count)
    return torch.empty(0, dtype=torch.uint8).set_(storage, 0, (count,))


def bytes_in_memory(count: int) -> torch.Tensor:
    return torch.from_numpy(np.empty(count, dtype=np.uint8))


class SlotBatch(NamedTuple):
    """A batch as the sampler asks for it: the samples, and the slot of the ring they go to."""

    slot: int
    tagged: list[tuple[int, int]]


class RingBatch(NamedTuple):
    """A batch as a loader process hands it over: where in the ring its crops lie, not the crops."""

    ring: int
    slot: int
    shape: tuple[int, ...]
    wide: bool
    targets: torch.Tensor
    read_seconds: float

    def resolve(self) -> CropBatch:
        """The batch, its images a view of the ring (valid until two more batches have been taken)."""
        images = CropRing._live[self.ring].view(self.slot, self.shape, self.wide)
        return CropBatch(images, self.targets, self.read_seconds)

    def pin_memory(self, device=None) -> CropBatch:
        """The DataLoader's pinning thread, in the training process: the batch copied into pinned memory."""
        batch = self.resolve()
        return CropBatch(batch.images.pin_memory(), batch.targets.pin_memory(), batch.read_seconds)


class RingSampler(Sampler):
    """``sampler``'s samples in batches of ``batch_size`` (the last, smaller one left out), each with
    its slot of the ring."""

    def __init__(self, sampler: Sampler, batch_size: int, slots: int):
        self.sampler = sampler
        self.batch_size = batch_size
        self.slots = slots

    def __iter__(self) -> Iterator[SlotBatch]:
        tagged, number = [], 0
        for item in self.sampler:
            tagged.append(item)
            if len(tagged) == self.batch_size:
                yield SlotBatch(number % self.slots, tagged)
                tagged, number = [], number + 1

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size


class RingCrops(Dataset):
    """``crops`` read batch by batch into ``ring``."""

    def __init__(self, crops: CropDataset, ring: CropRing):
        self.crops = crops
        self.ring = ring

    def __len__(self) -> int:
        return len(self.crops)

    def __getitems__(self, batch: SlotBatch) -> list[RingBatch]:
        read = self.crops.read_batch(batch.tagged, lambda shape, wide: self.ring.view(batch.slot, shape, wide))
        images = read.images
        return [RingBatch(self.ring.number, batch.slot, tuple(images.shape), images.dtype == torch.int16,
                          read.targets, read.read_seconds)]


class CropLoader:
    """Batches of raw crops (:class:`CropBatch`) read by ``workers`` processes (none: this one) into a
    :class:`CropRing`. Without pinned memory a batch's images are a view of the ring, valid until two
    more batches have been taken (the training loop's use); pinned batches are copies."""

    def __init__(self, crops: CropDataset, sampler: EpochSampler, batch_size: int, workers: int, pin_memory: bool):
        slots = workers * PREFETCH_BATCHES + 2
        slot_bytes = batch_size * len(CHANNELS) * crops.crop * crops.crop * 2  # room for 16-bit pixels
        self.ring = CropRing(slots, slot_bytes, shared=workers > 0)
        self.batches = RingSampler(sampler, batch_size, slots)
        self.loader = DataLoader(
            RingCrops(crops, self.ring), batch_sampler=self.batches, collate_fn=first_item,
            **loader_options(workers, pin_memory),
        )

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[CropBatch]:
        for batch in self.loader:
            yield batch.resolve() if isinstance(batch, RingBatch) else batch


def zscore_crops(raw: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(N, C, H, W)`` raw crops, float32, each crop and channel at zero mean and unit variance;
    a constant channel becomes zeros. The result of :func:`zscore` on every crop (within
    float32 rounding), on the tensor's device and in its memory format.

    ``int16`` holds ``uint16`` bits: flipping the sign bit turns it into the pixel minus 32768,
    exactly, and a shift changes no z-score. As on the CPU, the pixels are shifted by a coarse mean
    as they become float32, so that the sums of 16-bit values far from zero lose nothing (torch's
    sums are pairwise: more exact than ``zscore``'s, about 1e-6 from float64 at 1024 px).
    """
    if raw.dtype == torch.int16:
        raw = raw.bitwise_xor(-32768)
    elif raw.dtype != torch.uint8:
        raise TypeError(f"raw crops must be uint8 or int16 (holding uint16), got {raw.dtype}")
    coarse = raw[:, :, ::64, ::64].float().mean(dim=(2, 3), keepdim=True)
    pixels = torch.sub(raw, coarse)  # float32, in raw's memory format
    mean = pixels.mean(dim=(2, 3), keepdim=True)
    variance = pixels.square().mean(dim=(2, 3), keepdim=True) - mean.square()
    return pixels.sub_(mean).mul_(variance.clamp_min(eps * eps).rsqrt())


def device_crops(raw: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """A loader batch on ``device``, z-scored there: the raw pixels travel, not float32."""
    raw = raw.to(device, non_blocking=True)
    if channels_last:
        raw = raw.contiguous(memory_format=torch.channels_last)
    return zscore_crops(raw)


class WholeImageDataset(Dataset):
    """Whole images z-scored per channel over their whole area (how tiles are evaluated)."""

    def __init__(self, store: SampleStore, samples: SplitSamples):
        self.store = store
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        image = self.store.open(self.samples.store_keys[index])
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
    # The loader's own generator: without one, every new iterator draws its workers' base seed from
    # torch's global generator, which then depends on whether persistent workers were started
    # before (an uninterrupted run) or not (a resumed one), and so would the dropout masks.
    options = {"num_workers": workers, "pin_memory": pin_memory, "generator": torch.Generator().manual_seed(0)}
    if workers > 0:
        options.update(persistent_workers=True, prefetch_factor=PREFETCH_BATCHES)
    return options


def train_loader(
    dataset: CropDataset, sampler: EpochSampler, batch_size: int, workers: int, pin_memory: bool
) -> CropLoader:
    """Batches (:class:`CropBatch`) of ``batch_size`` raw crops. The last, smaller batch of an epoch is
    left out, so every step has the same shape (``torch.compile`` would compile again for it); the
    shuffle differs every epoch, so no sample is left out for good."""
    if len(sampler) < batch_size:
        raise ConfigError(
            f"batch_size {batch_size} (per process) is more than the {len(sampler)} training samples "
            "each process reads in an epoch"
        )
    return CropLoader(dataset, sampler, batch_size, workers, pin_memory)


def whole_image_loader(dataset: WholeImageDataset, indices: list[int], workers: int, pin_memory: bool) -> DataLoader:
    """One whole image at a time (sizes differ), read ahead by ``workers`` processes."""
    return DataLoader(dataset, batch_size=None, sampler=indices, **loader_options(workers, pin_memory))
