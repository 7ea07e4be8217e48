"""The four panels a reader sees for one sample, composed from its channels: pure arrays, no storage.

The paper (section 3.2 and Figure 9) showed every sample as four separate images: the protein of
interest alone in green, and each reference channel (nucleus, microtubules, endoplasmic reticulum)
in red with the protein in green over it. Each channel is stretched linearly between two
percentiles of its own intensities over the whole image, so the contrast is the same for every
participant and set by the study's display settings.
"""

from __future__ import annotations

import math

import numpy as np

from study.store import CHANNELS

PANELS = ("protein", "nucleus", "microtubules", "er")
RESOLUTIONS = ("display", "full")
PANEL_TITLES = {
    "protein": "Protein",
    "nucleus": "Nucleus + protein",
    "microtubules": "Microtubules + protein",
    "er": "Endoplasmic reticulum + protein",
}

# What a participant's screen reader says of each panel.
PANEL_ALT = {
    "protein": "protein",
    "nucleus": "nucleus with protein",
    "microtubules": "microtubules with protein",
    "er": "ER with protein",
}

# Which store channel each reference panel shows in red; every panel carries the protein in green.
PROTEIN_CHANNEL = "green"
REFERENCE_OF_PANEL = {"nucleus": "blue", "microtubules": "red", "er": "yellow"}
# How each channel of the files is shown, in the one wording every page uses: a participant sees the
# panels, never the files' colours (the ER, yellow in the files, is drawn red in its panel).
CHANNEL_SHOWN = {
    "green": "the protein, green in every panel",
    "blue": "the nucleus, red in the nucleus panel",
    "red": "the microtubules, red in the microtubules panel",
    "yellow": "the endoplasmic reticulum, red in the ER panel",
}

# Percentiles of a large image are taken on a strided subsample of about this many pixels: a
# regular grid over the whole field keeps the tails of the intensity distribution within a grey
# level of the full computation at a fraction of its cost (np.percentile sorts what it is given).
PERCENTILE_SAMPLE_PIXELS = 1 << 20


def channel_limits(plane: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """The ``low`` and ``high`` percentiles of one channel's intensities (see PERCENTILE_SAMPLE_PIXELS)."""
    stride = max(1, math.ceil(math.sqrt(plane.size / PERCENTILE_SAMPLE_PIXELS)))
    lower, upper = np.percentile(plane[::stride, ::stride], [low, high])
    return float(lower), float(upper)


def stretch(plane: np.ndarray, low: float, high: float) -> np.ndarray:
    """``plane`` mapped linearly from its ``low``..``high`` percentiles to 0..255, clipped, as uint8.

    A channel with no spread between the two percentiles (an empty or saturated channel) is black
    rather than a division by zero.
    """
    lower, upper = channel_limits(plane, low, high)
    if upper <= lower:
        return np.zeros(plane.shape, dtype=np.uint8)
    scaled = np.subtract(plane, np.float32(lower), dtype=np.float32)
    scaled *= np.float32(255.0 / (upper - lower))
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return scaled.round(out=scaled).astype(np.uint8)


def stretched_channels(pixels: np.ndarray, percentiles: dict) -> dict[str, np.ndarray]:
    """Each channel of a ``(4, H, W)`` sample stretched to uint8 by its display percentiles."""
    if pixels.ndim != 3 or pixels.shape[0] != len(CHANNELS):
        raise ValueError(f"expected pixels of shape (4, H, W) in the order {', '.join(CHANNELS)}, got {pixels.shape}")
    missing = [c for c in CHANNELS if c not in percentiles]
    if missing:
        raise ValueError(f"display percentiles lack the channels {', '.join(missing)}")
    return {channel: stretch(plane, *percentiles[channel]) for channel, plane in zip(CHANNELS, pixels)}


def compose(planes: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The four panels from stretched channels: the protein in green, a reference channel in red."""
    protein = planes[PROTEIN_CHANNEL]
    panels = {}
    for panel in PANELS:
        rgb = np.zeros((*protein.shape, 3), dtype=np.uint8)
        rgb[..., 1] = protein
        if panel in REFERENCE_OF_PANEL:
            rgb[..., 0] = planes[REFERENCE_OF_PANEL[panel]]
        panels[panel] = rgb
    return panels


def render_panels(pixels: np.ndarray, percentiles: dict) -> dict[str, np.ndarray]:
    """The four panels of a ``(4, H, W)`` sample in store channel order, as uint8 RGB ``(H, W, 3)``.

    ``percentiles`` maps each store channel (``red``, ``green``, ``blue``, ``yellow``) to its
    ``[low, high]`` contrast percentiles, as in ``StudyConfig.display_percentiles``.
    """
    return compose(stretched_channels(pixels, percentiles))
