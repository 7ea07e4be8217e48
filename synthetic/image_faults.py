"""Faults of the picture, as quality control should catch them: a channel shifted against the
others, blank, saturated or blurred. (``synthetic.faults`` spoils the files instead.)

Each takes a rendered ``(4, H, W)`` sample and returns a spoiled copy; the channel is named as in
``study.store.CHANNELS``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from study.store import CHANNELS

IMAGE_FAULTS = ("shifted", "blank", "saturated", "blurred")


def shifted(image: np.ndarray, channel: str, dy: int, dx: int) -> np.ndarray:
    """The channel's content moved by (dy, dx) pixels, as a camera out of line records it: what
    comes in from outside the field is background (the channel's first percentile)."""
    spoiled = image.copy()
    plane = image[CHANNELS.index(channel)]
    moved = np.full_like(plane, np.percentile(plane, 1))
    height, width = plane.shape
    moved[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = plane[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    spoiled[CHANNELS.index(channel)] = moved
    return spoiled


def blank(image: np.ndarray, channel: str, rng: np.random.Generator) -> np.ndarray:
    """The channel as a camera records no light: its background level with the background's noise."""
    spoiled = image.copy()
    plane = image[CHANNELS.index(channel)]
    background = plane[plane <= np.percentile(plane, 5)]
    level, spread = float(np.median(background)), max(float(background.std()), 0.5)
    top = np.iinfo(image.dtype).max
    spoiled[CHANNELS.index(channel)] = rng.normal(level, spread, plane.shape).round().clip(0, top).astype(image.dtype)
    return spoiled


def saturated(image: np.ndarray, channel: str, fraction: float) -> np.ndarray:
    """The channel overexposed: brightened until ``fraction`` of its pixels reach the top of the range."""
    spoiled = image.copy()
    plane = image[CHANNELS.index(channel)].astype(np.float64)
    top = np.iinfo(image.dtype).max
    gain = top / max(float(np.percentile(plane, 100 * (1 - fraction))), 1.0)
    spoiled[CHANNELS.index(channel)] = np.clip(plane * gain, 0, top).round().astype(image.dtype)
    return spoiled


def blurred(image: np.ndarray, channel: str, sigma: float) -> np.ndarray:
    """The channel out of focus: blurred by a Gaussian of ``sigma`` pixels."""
    spoiled = image.copy()
    plane = image[CHANNELS.index(channel)].astype(np.float32)
    top = np.iinfo(image.dtype).max
    spoiled[CHANNELS.index(channel)] = ndimage.gaussian_filter(plane, sigma).round().clip(0, top).astype(image.dtype)
    return spoiled
