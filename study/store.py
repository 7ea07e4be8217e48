"""The training store: each sample's four channels as one uncompressed, memory-mapped array.

Decoding four TIFFs of up to 3072x3072 for every 1024x1024 training crop starves a GPU, so every
sample is converted once, at import, into a ``.npy`` file of shape ``(4, H, W)`` in channel order
red (microtubules), green (protein), blue (nucleus), yellow (ER), keeping the original 8- or
16-bit intensities. A crop is a slice of a memory map: it reads about ``4 x crop`` rows, not the
image. Normalisation happens at read time, per crop for training or over the whole image for
evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from study.files import atomic_write

CHANNELS = ("red", "green", "blue", "yellow")
CHANNEL_MEANING = {
    "red": "microtubules",
    "green": "protein",
    "blue": "nucleus",
    "yellow": "endoplasmic reticulum",
}
STORE_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


class TrainingStore:
    """Sample arrays under one root folder, addressed by a relative key such as ``3/000123.npy``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key

    def write(self, key: str, array: np.ndarray) -> Path:
        """Write ``array`` under ``key`` atomically: readers see the old file or the whole new one."""
        if array.ndim != 3 or array.shape[0] != len(CHANNELS):
            raise ValueError(f"expected an array of shape (4, H, W), got {array.shape}")
        if array.dtype not in STORE_DTYPES:
            raise ValueError(f"expected uint8 or uint16 pixels, got {array.dtype}")
        target = self.path(key)
        with atomic_write(target) as handle:
            np.save(handle, np.ascontiguousarray(array))
        return target

    def open(self, key: str) -> np.ndarray:
        """The sample as a read-only memory map of shape ``(4, H, W)``."""
        return np.load(self.path(key), mmap_mode="r")

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def crop_box(height: int, width: int, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner of a uniformly random ``size`` x ``size`` window (0 where the image is smaller)."""
    top = int(rng.integers(0, height - size + 1)) if height > size else 0
    left = int(rng.integers(0, width - size + 1)) if width > size else 0
    return top, left


def read_crop(image: np.ndarray, top: int, left: int, size: int) -> np.ndarray:
    """The raw pixels of a window, zero-padded at the bottom and right where the image is smaller."""
    window = np.asarray(image[:, top : top + size, left : left + size])
    if window.shape[1:] == (size, size):
        return window
    padded = np.zeros((image.shape[0], size, size), dtype=image.dtype)
    padded[:, : window.shape[1], : window.shape[2]] = window
    return padded


def zscore(pixels: np.ndarray, eps: float = 1e-6) -> torch.Tensor:
    """Per-channel zero mean, unit variance, as float32; a constant channel becomes zeros.

    Four passes over the crop and no float64 copy: the pixels are shifted by a coarse mean while
    they are converted, so that the float32 sums of squares do not cancel catastrophically for
    16-bit images whose mean is far larger than their spread.
    """
    coarse = pixels[:, ::64, ::64].reshape(pixels.shape[0], -1).mean(axis=1, dtype=np.float64)
    shifted = np.subtract(pixels, coarse.astype(np.float32)[:, None, None], dtype=np.float32)
    flat = shifted.reshape(shifted.shape[0], -1)
    mean = np.einsum("ij->i", flat) / flat.shape[1]
    variance = np.einsum("ij,ij->i", flat, flat) / flat.shape[1] - mean * mean
    scale = 1.0 / np.sqrt(np.maximum(variance, eps * eps))
    np.subtract(flat, mean[:, None].astype(np.float32), out=flat)
    np.multiply(flat, scale[:, None].astype(np.float32), out=flat)
    return torch.from_numpy(shifted)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> torch.Tensor:
    """One training crop: a random window of ``image``, z-scored per channel."""
    top, left = crop_box(image.shape[1], image.shape[2], size, rng)
    return zscore(read_crop(image, top, left, size))
