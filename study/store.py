"""The sample store: each sample's four channels as one uncompressed, memory-mapped array.

Decoding four TIFFs of up to 3072x3072 for every 1024x1024 training crop starves a GPU, and
rendering a participant's panels from them is slow, so every sample is converted once, at import,
into a ``.npy`` file of shape ``(4, H, W)`` in channel order red (microtubules), green (protein),
blue (nucleus), yellow (ER), keeping the original 8- or 16-bit intensities. Training, prediction,
the panels and the report read it; a crop is a slice of the memory map and reads about
``4 x crop`` rows, not the image. The store holds arrays only: cropping and normalising for a model
are ``models_zoo``'s (web processes read panels and never load PyTorch).

Writing is atomic per file (``write``), or staged for an import that makes many samples durable
together (``stage``, then ``make_durable``): see ``study.importer``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from django.conf import settings

from site_machinery.files import atomic_write, fsync_directory

CHANNELS = ("red", "green", "blue", "yellow")
CHANNEL_MEANING = {
    "red": "microtubules",
    "green": "protein",
    "blue": "nucleus",
    "yellow": "endoplasmic reticulum",
}
STORE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
STAGED_PREFIX = ".staged-"


class SampleStore:
    """Sample arrays under one root folder, addressed by a relative key such as ``3/000123.npy``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def write(self, key: str, array: np.ndarray) -> Path:
        """Write ``array`` under ``key`` atomically and durably: readers, and a machine that loses
        power, see the old file or the whole new one."""
        _check(array)
        target = self.path(key)
        with atomic_write(target) as handle:
            np.save(handle, np.ascontiguousarray(array))
        fsync_directory(target.parent)
        return target

    def stage(self, key: str, array: np.ndarray) -> Path:
        """Write ``array`` beside ``key`` under a staging name, not yet flushed to disk and invisible
        to ``open``; ``make_durable`` puts it in place. Nothing reads a staged file."""
        _check(array)
        staged = self.staged_path(key)
        staged.parent.mkdir(parents=True, exist_ok=True)
        with open(staged, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array))
        return staged

    def create_staged(self, key: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A writable memory map of ``shape`` and ``dtype`` staged beside ``key`` (see ``stage``), for
        pixels to be decoded straight into the store."""
        if len(shape) != 3 or shape[0] != len(CHANNELS) or np.dtype(dtype) not in STORE_DTYPES:
            raise ValueError(f"expected (4, H, W) of uint8 or uint16 pixels, got {shape} of {dtype}")
        staged = self.staged_path(key)
        staged.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(staged, mode="w+", dtype=dtype, shape=shape)

    def staged_path(self, key: str) -> Path:
        target = self.path(key)
        return target.with_name(STAGED_PREFIX + target.name)

    def make_durable(self, keys: list[str]) -> None:
        """Flush the staged files of ``keys`` to disk, then move each to its key and flush the
        folders: after this returns, every one of them survives a crash under its key. One flush
        of many files costs about what the slowest of them does, where a flush per file waits for
        each in turn."""
        for key in keys:
            descriptor = os.open(self.staged_path(key), os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        for key in keys:
            os.replace(self.staged_path(key), self.path(key))
        for folder in sorted({self.path(key).parent for key in keys}):
            fsync_directory(folder)

    def discard_staged(self, keys: list[str]) -> None:
        for key in keys:
            self.staged_path(key).unlink(missing_ok=True)

    def open(self, key: str) -> np.ndarray:
        """The sample as a read-only memory map of shape ``(4, H, W)``."""
        return np.load(self.path(key), mmap_mode="r")

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def sample_store() -> SampleStore:
    """The site's sample store, under ``settings.STORE_DIR``."""
    return SampleStore(settings.STORE_DIR)


def _check(array: np.ndarray) -> None:
    if array.ndim != 3 or array.shape[0] != len(CHANNELS):
        raise ValueError(f"expected an array of shape (4, H, W), got {array.shape}")
    if array.dtype not in STORE_DTYPES:
        raise ValueError(f"expected uint8 or uint16 pixels, got {array.dtype}")
