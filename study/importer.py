"""Importing a folder of samples into a data set and the sample store.

Each sample is all-or-nothing: its pixels are decoded and checked, written to the store
atomically, and only then, in one transaction, become a ``Sample`` row with its reference labels.
A bad sample is skipped with its reason and never stops the others; an import in which no sample
at all could be stored is an error (``ImportError_``), so that it leaves no empty data set behind.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from django.db import IntegrityError, transaction

from study import csv_safety
from study.imaging import DEFAULT_MAX_PIXELS, ChannelError, read_channel
from study.labelfiles import LabelFile
from study.models import Dataset, ReferenceLabel, Sample
from study.quality import QualityFlag, QualityThresholds, assess_sample
from study.store import CHANNELS, SampleStore

CHANNEL_FILE = re.compile(
    r"^(?P<id>.+)_(?P<channel>red|green|blue|yellow)(?P<suffix>\.(?:tiff?|png|jpe?g))$", re.IGNORECASE
)
LAYOUTS = ("channels", "npz", "npy")
ARRAY_LAYOUTS = ("npz", "npy")


class ImportError_(Exception):
    """The import as a whole cannot run (as opposed to one sample being skipped)."""


@dataclass(frozen=True)
class SampleSource:
    sample_id: str
    files: dict[str, Path]  # channel name -> file, or {"npz": file} or {"npy": file}


@dataclass(frozen=True)
class Converted:
    sample_id: str
    height: int
    width: int
    bit_depth: int
    quality_flags: tuple[QualityFlag, ...] = ()


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

    # every quality flag of the samples imported, by sample id
    quality_flags: dict[str, tuple[QualityFlag, ...]] = field(default_factory=dict)

    @property
    def skipped_by_reason(self) -> Counter:
        return Counter(item.reason for item in self.skipped)

    @property
    def flags_by_check(self) -> Counter:
        return Counter(flag.check for flags in self.quality_flags.values() for flag in flags)


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(path for path in folder.iterdir() if path.is_file())
    except OSError as error:
        raise ImportError_(f"{folder}: cannot list the folder ({error.strerror})") from None


def detect_layout(folder: Path) -> str:
    names = [path.name for path in _files(folder)]
    found = [
        layout
        for layout, present in (
            ("channels", any(CHANNEL_FILE.match(name) for name in names)),
            ("npz", any(name.lower().endswith(".npz") for name in names)),
            ("npy", any(name.lower().endswith(".npy") for name in names)),
        )
        if present
    ]
    if len(found) > 1:
        raise ImportError_(f"{folder} holds samples in several layouts ({', '.join(found)}); pass --layout")
    if found:
        return found[0]
    raise ImportError_(
        f"{folder} holds no samples: expected files named {{id}}_{{red,green,blue,yellow}}.tif "
        "(or .tiff, .png, .jpg), or {id}.npz, or {id}.npy"
    )


def discover(folder: Path, layout: str) -> list[SampleSource]:
    sources: dict[str, dict[str, Path]] = {}
    for path in _files(folder):
        if layout in ARRAY_LAYOUTS:
            if path.suffix.lower() == f".{layout}":
                sources[path.stem] = {layout: path}
            continue
        match = CHANNEL_FILE.match(path.name)
        if match:
            files = sources.setdefault(match["id"], {})
            channel = match["channel"].lower()
            # Two files for one channel (say .tif and .png): keep the first in name order and let
            # the sample be checked as usual; picking silently among differing files would hide it.
            files.setdefault(channel, path)
    if not sources:
        raise ImportError_(f"{folder} holds no samples in the {layout!r} layout")
    return [SampleSource(sample_id, files) for sample_id, files in sources.items()]


def store_key(dataset: Dataset, sample_id: str) -> str:
    """An opaque, stable file name: nothing in it reveals the sample's id or its class."""
    digest = hashlib.sha256(f"{dataset.pk}:{sample_id}".encode()).hexdigest()[:24]
    return f"{dataset.pk}/{digest}.npy"


def _unusable_id(sample_id: str) -> str | None:
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
    """Decode, check, assess the quality of (unless ``thresholds`` is None) and write one sample to the
    store; runs in a worker process."""
    problem = _unusable_id(source.sample_id)
    if problem:
        return Skipped(source.sample_id, "unusable id", problem)
    try:
        if "npz" in source.files:
            pixels = _read_npz(source.files["npz"], max_pixels, array_channels)
        elif "npy" in source.files:
            pixels = _read_npy(source.files["npy"], max_pixels, array_channels)
        else:
            pixels = _read_channels(source, max_pixels)
    except ChannelError as error:
        return Skipped(source.sample_id, error.reason, error.detail)
    store = SampleStore(store_root)
    try:
        store.write(key, pixels)
    except OSError as error:
        # A full disk or a read-only store fails every sample alike: stop the import, say where.
        raise ImportError_(f"{store.path(key)}: cannot write to the sample store ({error.strerror})") from None
    flags = assess_sample(pixels, thresholds).flags if thresholds is not None else ()
    return Converted(source.sample_id, pixels.shape[1], pixels.shape[2], 8 * pixels.dtype.itemsize, flags)


def _read_channels(source: SampleSource, max_pixels: int) -> np.ndarray:
    missing = [channel for channel in CHANNELS if channel not in source.files]
    if missing:
        raise ChannelError("missing channel", f"no {' or '.join(missing)} image")
    planes = [read_channel(source.files[channel], max_pixels) for channel in CHANNELS]
    shapes = {plane.shape for plane in planes}
    if len(shapes) > 1:
        sizes = ", ".join(f"{source.files[c].name} {p.shape[1]}x{p.shape[0]}" for c, p in zip(CHANNELS, planes))
        raise ChannelError("size mismatch", f"channels differ in size: {sizes}")
    dtype = np.uint16 if any(plane.dtype == np.uint16 for plane in planes) else np.uint8
    # Mixed depths keep their values: each channel is z-scored on its own when read.
    return np.stack([plane.astype(dtype, copy=False) for plane in planes])


def _read_npz(path: Path, max_pixels: int, channels: tuple[str, ...]) -> np.ndarray:
    """The array ``sample`` of an ``.npz`` file (the reference implementation's layout)."""
    try:
        with zipfile.ZipFile(path) as archive:
            if "sample.npy" not in archive.namelist():
                raise ChannelError("unreadable", f"{path.name}: no array named 'sample'")
            with archive.open("sample.npy") as member:
                # Check the declared shape before decompressing: the header is tiny, the data may not be.
                channel_axis = _checked_header(member, path, max_pixels)
            with np.load(path, allow_pickle=False) as loaded:
                array = loaded["sample"]
    except ChannelError:
        raise
    except Exception as error:
        raise ChannelError("unreadable", f"{path.name}: {error}") from None
    return _store_order(array, channel_axis, channels)


def _read_npy(path: Path, max_pixels: int, channels: tuple[str, ...]) -> np.ndarray:
    """A ``.npy`` array of shape H x W x 4 or 4 x H x W, read through a memory map after its header
    has been checked, so a huge or malformed file costs nothing."""
    try:
        with open(path, "rb") as handle:
            channel_axis = _checked_header(handle, path, max_pixels)
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ChannelError:
        raise
    except Exception as error:
        raise ChannelError("unreadable", f"{path.name}: {error}") from None
    return _store_order(array, channel_axis, channels)


def _checked_header(handle, path: Path, max_pixels: int) -> int:
    """Check a ``.npy`` header (shape, type, size) and return the axis that holds the 4 channels."""
    version = np.lib.format.read_magic(handle)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read_header(handle)
    layout = "H x W x 4 or 4 x H x W"
    if len(shape) != 3 or 4 not in (shape[0], shape[2]):
        raise ChannelError("unsupported pixel type", f"{path.name}: the array has shape {shape}, expected {layout}")
    if shape[0] == 4 and shape[2] == 4:
        raise ChannelError(
            "unsupported pixel type", f"{path.name}: shape {shape} could be {layout}; an image of 4 pixels is no sample"
        )
    if dtype.kind != "u" or dtype.itemsize not in (1, 2):
        raise ChannelError("unsupported pixel type", f"{path.name}: {dtype} pixels, expected uint8 or uint16")
    channel_axis = 2 if shape[2] == 4 else 0
    height, width = [size for axis, size in enumerate(shape) if axis != channel_axis]
    if height * width > max_pixels:
        raise ChannelError("too large", f"{path.name}: {width}x{height} pixels is over the limit of {max_pixels:,}")
    if height == 0 or width == 0:
        raise ChannelError("unreadable", f"{path.name}: the array is {width}x{height} pixels, empty")
    return channel_axis


def _store_order(array: np.ndarray, channel_axis: int, channels: tuple[str, ...]) -> np.ndarray:
    """``(4, H, W)`` in store channel order, native byte order; ``channels`` names the planes as given."""
    order = [channels.index(channel) for channel in CHANNELS]
    planes = np.moveaxis(array, channel_axis, 0)[order]
    return np.ascontiguousarray(planes, dtype=planes.dtype.newbyteorder("="))


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
    quality control off. ``progress(results, total)`` wraps the stream of finished samples."""
    sources = discover(folder, layout)
    labelled = [source for source in sources if source.sample_id in label_file.labels]
    if not labelled:
        example = next(iter(label_file.labels), "(none)")
        raise ImportError_(
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
    existing = set(dataset.samples.values_list("source_id", flat=True))
    pending = [source for source in labelled if source.sample_id not in existing]
    summary.already_imported = len(labelled) - len(pending)

    jobs = [
        (source, str(store.root), store_key(dataset, source.sample_id), max_pixels, array_channels, thresholds)
        for source in pending
    ]
    if workers > 1:
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = pool.map(convert_sample, *zip(*jobs), chunksize=4) if jobs else []
                for result in progress(results, len(jobs)):
                    _record(result, dataset, label_file, store, summary)
        except BrokenProcessPool:
            raise ImportError_(
                f"a process decoding images from {folder} died (out of memory?); the samples stored "
                "so far are kept: run the import again, with fewer --workers"
            ) from None
    else:
        for job in progress(jobs, len(jobs)):
            _record(convert_sample(*job), dataset, label_file, store, summary)
    if pending and not summary.imported and not summary.already_imported:
        raise ImportError_(_nothing_imported(folder, summary))
    return summary


def _nothing_imported(folder: Path, summary: ImportSummary) -> str:
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(summary.skipped_by_reason.items()))
    failed = [item for item in summary.skipped if item.reason != "no labels"]
    examples = "; ".join(f"{item.sample_id}: {item.detail}" for item in failed[:3])
    return f"no sample of {folder} could be imported ({reasons}), e.g. {examples}"


def _record(
    result: Converted | Skipped, dataset: Dataset, label_file: LabelFile, store: SampleStore, summary: ImportSummary
) -> None:
    if isinstance(result, Skipped):
        summary.skipped.append(result)
        return
    key = store_key(dataset, result.sample_id)
    try:
        with transaction.atomic():
            sample = Sample.objects.create(
                dataset=dataset,
                source_id=result.sample_id,
                height=result.height,
                width=result.width,
                bit_depth=result.bit_depth,
                store_key=key,
                quality_flags=[_flag_row(flag) for flag in result.quality_flags],
            )
            ReferenceLabel.objects.bulk_create(
                ReferenceLabel(sample=sample, class_index=index) for index in label_file.labels[result.sample_id]
            )
    except IntegrityError:
        # Another import of the same folder stored this sample first; its file is the same pixels.
        summary.already_imported += 1
        return
    except BaseException:
        store.delete(key)
        raise
    summary.imported += 1
    if result.quality_flags:
        summary.quality_flags[result.sample_id] = result.quality_flags


def _flag_row(flag: QualityFlag) -> dict:
    return {"channel": flag.channel, "check": flag.check, "value": flag.value, "threshold": flag.threshold}


def write_quality_flags(path: Path, summary: ImportSummary) -> int:
    """The QC flags of the samples this import stored, one ``sample,channel,check,value,threshold`` row each."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with open(path, "w", newline="") as handle:
        writer = csv_safety.writer(handle)
        writer.writerow(["sample", "channel", "check", "value", "threshold"])
        for sample_id in sorted(summary.quality_flags):
            for flag in summary.quality_flags[sample_id]:
                writer.writerow([sample_id, flag.channel, flag.check, f"{flag.value:.6g}", f"{flag.threshold:g}"])
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
