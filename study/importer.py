"""Importing a folder of samples into a data set and the sample store, at the speed of decoding.

A pipeline of three stages, each sample all-or-nothing:

1. *decode* (in ``workers`` processes, or in this one): read the sample's files
   (``study.sample_files``), check them, assess their quality (``study.quality``) and write the
   array to the store under a staging name (``SampleStore.stage``), not yet flushed to disk;
2. *flush* (a thread): every ``FLUSH_SAMPLES`` samples or ``FLUSH_BYTES`` of them, flush the
   staged files to disk together, move each under its key and flush the folder
   (``SampleStore.make_durable``), while the decoding goes on;
3. *record* (this thread): once a batch is on disk, its samples become ``Sample`` rows with their
   reference labels in one transaction, a savepoint each.

So a sample is in the database only once its file is whole on disk, and a row is never without
its file. A process killed between the flush and the record leaves files that no row names, and
one killed before the flush leaves staged files: the next import of the data set removes both
before it starts (``sweep``), unless another import of it is running. A bad sample is skipped
with its reason and never stops the others; an import in which no sample at all could be stored
is an error (``DatasetImportError``), so that it leaves no empty data set behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from django.db import IntegrityError, transaction

from site_machinery import csv_safety
from study.imaging import DEFAULT_MAX_PIXELS, ChannelError
from study.labelfiles import LabelFile
from study.models import Dataset, ReferenceLabel, Sample
from study.quality import Abstention, QualityFlag, QualityThresholds, assess_sample
from study.sample_files import DatasetImportError, SampleSource, discover, read_sample
from study.store import CHANNELS, STAGED_PREFIX, SampleStore

FLUSH_SAMPLES = 32  # samples flushed to disk together, at most
FLUSH_BYTES = 1 << 30  # bytes of samples flushed together, at most
FLUSHES_AHEAD = 2  # batches being flushed while decoding goes on; the next waits for the oldest


@dataclass(frozen=True)
class Converted:
    sample_id: str
    height: int
    width: int
    bit_depth: int
    quality_flags: tuple[QualityFlag, ...] = ()
    quality_abstentions: tuple[Abstention, ...] = ()

    @property
    def nbytes(self) -> int:
        return len(CHANNELS) * self.height * self.width * self.bit_depth // 8


@dataclass(frozen=True)
class Skipped:
    sample_id: str
    reason: str
    detail: str


@dataclass
class ImportSummary:
    dataset: Dataset
    imported: int = 0
    already_imported: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    labels_without_images: list[str] = field(default_factory=list)
    # every quality flag and abstention of the samples imported, by sample id
    quality_flags: dict[str, tuple[QualityFlag, ...]] = field(default_factory=dict)
    quality_abstentions: dict[str, tuple[Abstention, ...]] = field(default_factory=dict)

    @property
    def skipped_by_reason(self) -> Counter:
        return Counter(item.reason for item in self.skipped)

    @property
    def flags_by_check(self) -> Counter:
        return Counter(flag.check for flags in self.quality_flags.values() for flag in flags)

    @property
    def abstentions_by_check(self) -> Counter:
        """How many samples each check could not judge (on one channel or more)."""
        return Counter(check for items in self.quality_abstentions.values() for check in {a.check for a in items})


def store_key(dataset: Dataset, sample_id: str) -> str:
    """An opaque, stable file name: nothing in it reveals the sample's id or its class."""
    digest = hashlib.sha256(f"{dataset.pk}:{sample_id}".encode()).hexdigest()[:24]
    return f"{dataset.pk}/{digest}.npy"


def unusable_id(sample_id: str) -> str | None:
    """Why an id cannot be stored as a sample's ``source_id``, or None."""
    longest = Sample._meta.get_field("source_id").max_length
    if len(sample_id) > longest:
        return f"the id is {len(sample_id)} characters long; at most {longest} fit"
    if not sample_id.isprintable():
        return f"the id {sample_id!r} holds control or undecodable characters; rename its files"
    return None


def convert_sample(
    source: SampleSource,
    store_root: str,
    key: str,
    max_pixels: int,
    array_channels: tuple[str, ...],
    thresholds: QualityThresholds | None,
) -> Converted | Skipped:
    """Decode, check, assess the quality of (unless ``thresholds`` is None) and stage one sample in
    the store; runs in a worker process."""
    problem = unusable_id(source.sample_id)
    if problem:
        return Skipped(source.sample_id, "unusable id", problem)
    store = SampleStore(store_root)
    try:
        # Channel images are decoded straight into the staged file: no copy of the sample on the way.
        pixels = read_sample(
            source, max_pixels, array_channels, lambda shape, dtype: store.create_staged(key, shape, dtype)
        )
        if not isinstance(pixels, np.memmap):
            store.stage(key, pixels)
    except ChannelError as error:
        store.discard_staged([key])
        return Skipped(source.sample_id, error.reason, error.detail)
    except OSError as error:
        store.discard_staged([key])
        # A full disk or a read-only store fails every sample alike: stop the import, say where.
        raise DatasetImportError(
            f"{store.staged_path(key)}: cannot write to the sample store ({error.strerror})"
        ) from None
    quality = assess_sample(pixels, thresholds) if thresholds is not None else None
    return Converted(
        source.sample_id, pixels.shape[1], pixels.shape[2], 8 * pixels.dtype.itemsize,
        quality.flags if quality else (), quality.abstentions if quality else (),
    )


def run_import(
    folder: Path,
    dataset: Dataset,
    label_file: LabelFile,
    store: SampleStore,
    layout: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 1,
    array_channels: tuple[str, ...] = CHANNELS,
    thresholds: QualityThresholds | None = QualityThresholds(),
    progress: Callable[[Iterable, int], Iterable] = lambda items, total: items,
) -> ImportSummary:
    """Import the labelled samples of ``folder`` that ``dataset`` lacks; ``thresholds`` None turns the
    quality control off. ``progress(results, total)`` wraps the stream of decoded samples."""
    sources = discover(folder, layout)
    labelled = [source for source in sources if source.sample_id in label_file.labels]
    if not labelled:
        example = next(iter(label_file.labels), "(none)")
        raise DatasetImportError(
            f"{label_file.path}: none of its {len(label_file.labels)} sample ids matches a sample in "
            f"{folder} (e.g. label id {example!r}, image id {sources[0].sample_id!r})"
        )
    summary = ImportSummary(dataset)
    found = {source.sample_id for source in sources}
    summary.labels_without_images = sorted(set(label_file.labels) - found)
    summary.skipped.extend(
        Skipped(source.sample_id, "classes dropped", "the class mapping drops every class of this sample")
        if source.sample_id in label_file.dropped
        else Skipped(source.sample_id, "no labels", f"not in {label_file.path.name}")
        for source in sources
        if source.sample_id not in label_file.labels
    )
    with _importing(store, dataset):
        existing = set(dataset.samples.values_list("source_id", flat=True))
        pending = [source for source in labelled if source.sample_id not in existing]
        summary.already_imported = len(labelled) - len(pending)
        jobs = [
            (source, str(store.root), store_key(dataset, source.sample_id), max_pixels, array_channels, thresholds)
            for source in pending
        ]
        recorder = _Recorder(dataset, label_file, store, summary)
        try:
            recorder.take(progress(_converted(jobs, workers, folder), len(jobs)))
        finally:
            recorder.close()
    if pending and not summary.imported and not summary.already_imported:
        raise DatasetImportError(_nothing_imported(folder, summary))
    return summary


def _converted(jobs: list[tuple], workers: int, folder: Path) -> Iterator[Converted | Skipped]:
    """The decode stage: each job's result, in order, from ``workers`` processes or this one."""
    if workers <= 1:
        for job in jobs:
            yield convert_sample(*job)
        return
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from (pool.map(convert_sample, *zip(*jobs), chunksize=4) if jobs else [])
    except BrokenProcessPool:
        raise DatasetImportError(
            f"a process decoding images from {folder} died (out of memory?); the samples stored "
            "so far are kept: run the import again, with fewer --workers"
        ) from None


class _Recorder:
    """The flush and record stages: batches of staged samples flushed in a thread, each recorded in
    the database once it is on disk."""

    def __init__(self, dataset: Dataset, label_file: LabelFile, store: SampleStore, summary: ImportSummary):
        self.dataset, self.label_file, self.store, self.summary = dataset, label_file, store, summary
        self.flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-flush")
        self.batch: list[Converted] = []
        self.flushing: deque[tuple[list[Converted], Future]] = deque()

    def take(self, results: Iterable[Converted | Skipped]) -> None:
        for result in results:
            if isinstance(result, Skipped):
                self.summary.skipped.append(result)
            else:
                self.batch.append(result)
                if len(self.batch) >= FLUSH_SAMPLES or sum(r.nbytes for r in self.batch) >= FLUSH_BYTES:
                    self._flush()
            self._record(wait=False)
        self._flush()
        self._record(wait=True)

    def _flush(self) -> None:
        if self.batch:
            keys = [store_key(self.dataset, r.sample_id) for r in self.batch]
            self.flushing.append((self.batch, self.flusher.submit(self.store.make_durable, keys)))
            self.batch = []
        while len(self.flushing) > FLUSHES_AHEAD:
            self._record_oldest()

    def _record(self, wait: bool) -> None:
        while self.flushing and (wait or self.flushing[0][1].done()):
            self._record_oldest()

    def _record_oldest(self) -> None:
        batch, flushed = self.flushing.popleft()
        try:
            flushed.result()
        except OSError as error:
            self._discard(batch)
            raise DatasetImportError(
                f"{error.filename or self.store.root}: cannot write to the sample store ({error.strerror})"
            ) from None
        try:
            record_batch(self.dataset, self.label_file, batch, self.summary)
        except BaseException:
            self._discard(batch)
            raise

    def _discard(self, batch: list[Converted]) -> None:
        """Remove the files of a batch that no row names (all of it, unless another import recorded
        some of its samples meanwhile)."""
        keys = [store_key(self.dataset, r.sample_id) for r in batch]
        named = set(Sample.objects.filter(store_key__in=keys).values_list("store_key", flat=True))
        for key in keys:
            if key not in named:
                self.store.delete(key)
        self.store.discard_staged(keys)

    def close(self) -> None:
        """After an error: wait for the flushes under way and remove what they and the batch being
        gathered leave that no row names."""
        for batch, flushed in self.flushing:
            flushed.exception()
            self._discard(batch)
        self.flushing.clear()
        if self.batch:
            self._discard(self.batch)
            self.batch = []
        self.flusher.shutdown()


def record_batch(dataset: Dataset, label_file: LabelFile, batch: list[Converted], summary: ImportSummary) -> None:
    """The samples of a batch on disk become rows with their reference labels: one transaction, a
    savepoint each, so that a sample another import recorded first is counted and passed over."""
    recorded = []
    with transaction.atomic():
        for result in batch:
            try:
                with transaction.atomic():
                    sample = Sample.objects.create(
                        dataset=dataset,
                        source_id=result.sample_id,
                        height=result.height,
                        width=result.width,
                        bit_depth=result.bit_depth,
                        store_key=store_key(dataset, result.sample_id),
                        quality_flags=[_flag_row(flag) for flag in result.quality_flags],
                    )
                    classes = label_file.labels[result.sample_id]
                    ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=i) for i in classes)
            except IntegrityError:
                # Another import of the same folder recorded this sample first; its file holds the
                # same pixels under the same key.
                summary.already_imported += 1
                continue
            recorded.append(result)
    for result in recorded:
        summary.imported += 1
        if result.quality_flags:
            summary.quality_flags[result.sample_id] = result.quality_flags
        if result.quality_abstentions:
            summary.quality_abstentions[result.sample_id] = result.quality_abstentions


@contextmanager
def _importing(store: SampleStore, dataset: Dataset) -> Iterator[None]:
    """Hold the data set's store folder for an import: alone, sweep it first; beside another import
    of the same data set, leave its files be."""
    folder = store.path(str(dataset.pk))
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fcntl.flock(descriptor, fcntl.LOCK_SH)
        else:
            sweep(store, dataset)
            fcntl.flock(descriptor, fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)


def sweep(store: SampleStore, dataset: Dataset) -> int:
    """Remove what a killed import of ``dataset`` left in its store folder: staged files, and files
    that no sample names. Returns how many."""
    folder = store.path(str(dataset.pk))
    named = set(Sample.objects.filter(store_key__startswith=f"{dataset.pk}/").values_list("store_key", flat=True))
    removed = 0
    for path in folder.iterdir():
        key = f"{dataset.pk}/{path.name}"
        if path.is_file() and (path.name.startswith((STAGED_PREFIX, ".partial-")) or key not in named):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _nothing_imported(folder: Path, summary: ImportSummary) -> str:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(summary.skipped_by_reason.items()))
    failed = [item for item in summary.skipped if item.reason != "no labels"]
    examples = "; ".join(f"{item.sample_id}: {item.detail}" for item in failed[:3])
    return f"no sample of {folder} could be imported ({reasons}), e.g. {examples}"


def _flag_row(flag: QualityFlag) -> dict:
    return {"channel": flag.channel, "check": flag.check, "value": flag.value, "threshold": flag.threshold}


def write_quality_report(path: Path, summary: ImportSummary) -> int:
    """The quality control of the samples this import stored, one ``sample,channel,check,value,
    threshold,reason`` row per flag (no reason) and per abstention (no value: the reason)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "w", newline="") as handle:
        writer = csv_safety.writer(handle)
        writer.writerow(["sample", "channel", "check", "value", "threshold", "reason"])
        for sample_id in sorted(set(summary.quality_flags) | set(summary.quality_abstentions)):
            for flag in summary.quality_flags.get(sample_id, ()):
                writer.writerow([sample_id, flag.channel, flag.check, f"{flag.value:.6g}", f"{flag.threshold:g}", ""])
                rows += 1
            for abstention in summary.quality_abstentions.get(sample_id, ()):
                writer.writerow([sample_id, abstention.channel, abstention.check, "", "", abstention.reason])
                rows += 1
    return rows


def write_skipped(path: Path, summary: ImportSummary) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv_safety.writer(handle)
        writer.writerow(["id", "reason", "detail"])
        for item in sorted(summary.skipped, key=lambda item: item.sample_id):
            writer.writerow([item.sample_id, item.reason, item.detail])
        for sample_id in summary.labels_without_images:
            writer.writerow([sample_id, "no images", "in the labels file, but no image files"])
