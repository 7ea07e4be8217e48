"""Crops of a sample store's arrays and their z-scoring, the model's view of the pixels.

The store (``study.store``) holds each sample's raw 8- or 16-bit ``(4, H, W)`` array; training
reads one random window of it per sample and epoch, and evaluation whole images, each z-scored per
channel.
"""

from __future__ import annotations

import numpy as np
import torch


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
