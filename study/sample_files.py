"""The samples of a folder: which files make each sample, and their pixels as one array.

Layouts: ``channels``, one image a channel, ``{id}_{red,green,blue,yellow}.{tif,tiff,png,jpg}``
(the Human Protein Atlas and Kaggle layout); ``npz``, the reference implementation's ``{id}.npz``
(array ``sample``); ``npy``, ``{id}.npy``. A sample's pixels are ``(4, H, W)`` in store channel
order, 8- or 16-bit; whatever keeps a sample from being one raises ``ChannelError`` with a short,
countable reason, and whatever keeps the folder from being read raises ``DatasetImportError``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.imaging import ChannelError, ChannelImage
from study.store import CHANNELS

CHANNEL_FILE = re.compile(
    r"^(?P<id>.+)_(?P<channel>red|green|blue|yellow)(?P<suffix>\.(?:tiff?|png|jpe?g))$", re.IGNORECASE
)
LAYOUTS = ("channels", "npz", "npy")
ARRAY_LAYOUTS = ("npz", "npy")
Allocate = Callable[[tuple[int, ...], np.dtype], np.ndarray]


class DatasetImportError(Exception):
    """The import as a whole cannot run (as opposed to one sample being skipped)."""


@dataclass(frozen=True)
class SampleSource:
    sample_id: str
    files: dict[str, Path]  # channel name -> file, or {"npz": file} or {"npy": file}


def read_sample(
    source: SampleSource, max_pixels: int, array_channels: tuple[str, ...], allocate: Allocate = np.empty
) -> np.ndarray:
    """The sample's ``(4, H, W)`` pixels in store channel order; ``ChannelError`` says why not.
    Channel images are decoded into ``allocate(shape, dtype)`` (a new array by default; the
    importer passes the store's staged file, so that a sample is decoded straight into it)."""
    if "npz" in source.files:
        return _read_npz(source.files["npz"], max_pixels, array_channels)
    if "npy" in source.files:
        return _read_npy(source.files["npy"], max_pixels, array_channels)
    return _read_channels(source, max_pixels, allocate)


def _files(folder: Path) -> list[Path]:
    try:
        return sorted(path for path in folder.iterdir() if path.is_file())
    except OSError as error:
        raise DatasetImportError(f"{folder}: cannot list the folder ({error.strerror})") from None


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
        raise DatasetImportError(f"{folder} holds samples in several layouts ({', '.join(found)}); pass --layout")
    if found:
        return found[0]
    raise DatasetImportError(
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
        raise DatasetImportError(f"{folder} holds no samples in the {layout!r} layout")
    return [SampleSource(sample_id, files) for sample_id, files in sources.items()]


def _read_channels(source: SampleSource, max_pixels: int, allocate: Allocate) -> np.ndarray:
    missing = [channel for channel in CHANNELS if channel not in source.files]
    if missing:
        raise ChannelError("missing channel", f"no {' or '.join(missing)} image")
    with ExitStack() as stack:
        images = [stack.enter_context(ChannelImage(source.files[channel], max_pixels)) for channel in CHANNELS]
        if len({image.shape for image in images}) > 1:
            sizes = ", ".join(f"{image.path.name} {image.shape[1]}x{image.shape[0]}" for image in images)
            raise ChannelError("size mismatch", f"channels differ in size: {sizes}")
        # Mixed depths keep their values: each channel is z-scored on its own when read.
        dtype = np.uint16 if any(image.dtype == np.uint16 for image in images) else np.uint8
        pixels = allocate((len(CHANNELS), *images[0].shape), np.dtype(dtype))
        for image, plane in zip(images, pixels):
            image.read_into(plane)
        return pixels


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
