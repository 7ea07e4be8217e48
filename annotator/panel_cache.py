"""Rendered panels on disk, under ``DATA_DIR/panels``, encoded once as WebP.

Encoding is lossless. Lossy WebP always stores colour at half resolution (4:2:0 chroma
subsampling), and in these panels the colour *is* the information: a fine green structure next to a
red one (a vesicle beside the ER, a centrosome dot beside a microtubule) would bleed into its
neighbour. Lossless WebP is still about half the size of PNG for these fields.

No metadata is written (no EXIF, XMP or ICC profile), so an image file carries nothing but pixels.
Files are written to a temporary name and moved into place, so that two requests that render the
same sample at once both leave a whole file and a reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from django.conf import settings

from study.files import atomic_write

DISPLAY_LONGEST_SIDE = 1024
# Lossless WebP's "quality" is encoder effort: 25 with method 1 gives files within a few percent of
# the smallest at a third of the encoding time of the default effort.
WEBP_OPTIONS = {"lossless": True, "quality": 25, "method": 1}
# Part of every cache key: a change to how panels are drawn must not serve files drawn the old way.
RENDERING_VERSION = "1"


def panel_path(store_key: str, settings_digest: str, panel: str, resolution: str) -> Path:
    """Where a panel of the sample stored under ``store_key`` is cached for the given display settings."""
    key = hashlib.sha256(f"{RENDERING_VERSION}\0{store_key}\0{settings_digest}".encode()).hexdigest()
    return Path(settings.DATA_DIR) / "panels" / key[:2] / key / f"{resolution}-{panel}.webp"


def display_size(height: int, width: int) -> tuple[int, int]:
    """(width, height) with the longest side at most DISPLAY_LONGEST_SIDE, keeping the aspect ratio."""
    scale = min(1.0, DISPLAY_LONGEST_SIDE / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def reduce_for_display(plane: np.ndarray) -> np.ndarray:
    """A uint8 plane with its longest side at most DISPLAY_LONGEST_SIDE.

    Pillow's Lanczos filter averages over the whole footprint of each output pixel when it
    reduces, so a one-pixel dot is dimmed rather than dropped or aliased.
    """
    size = display_size(*plane.shape)
    if size == (plane.shape[1], plane.shape[0]):
        return plane
    return np.asarray(Image.fromarray(plane).resize(size, Image.Resampling.LANCZOS))


def encode(rgb: np.ndarray) -> bytes:
    """Lossless WebP bytes of an RGB panel, without metadata."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="WEBP", exif=b"", xmp=b"", icc_profile=None, **WEBP_OPTIONS)
    return buffer.getvalue()


def write_panel(path: Path, rgb: np.ndarray) -> None:
    """Encode and store one panel atomically."""
    data = encode(rgb)
    with atomic_write(path) as handle:
        handle.write(data)
