"""Rendered panels on disk, under ``DATA_DIR/panels``, encoded once as WebP.

Encoding is lossless. Lossy WebP always stores colour at half resolution (4:2:0 chroma
subsampling), and in these panels the colour *is* the information: a fine green structure next to a
red one (a vesicle beside the ER, a centrosome dot beside a microtubule) would bleed into its
neighbour. Lossless WebP is still about half the size of PNG for these fields.

No metadata is written (no EXIF, XMP or ICC profile), so an image file carries nothing but pixels.
Files are written to a temporary name and moved into place, so that a reader never sees half of one,
also when the disk fills up mid-write (the partial file is removed and the error raised).

Rendering is the expensive part of serving a panel, so it is rationed with lock files (``flock``,
shared by every thread and process of the site and released by the system when a process dies):
a sample is rendered by one request at a time, whose siblings wait for it and then read its files
(``sample_lock``), and one person has one render running at a time and at most a few requests
waiting for one (``renderer_turn``). A request that would wait longer raises ``PanelBusy``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from django.conf import settings

from site_machinery.files import atomic_write

DISPLAY_LONGEST_SIDE = 1024
# Lossless WebP's "quality" is encoder effort: 25 with method 1 gives files within a few percent of
# the smallest at a third of the encoding time of the default effort.
WEBP_OPTIONS = {"lossless": True, "quality": 25, "method": 1}
# Part of every cache key: a change to how panels are drawn must not serve files drawn the old way.
RENDERING_VERSION = "1"
# Requests of one person that may wait for their turn to render: a page asks for eight panels at
# most at once (its four and the next case's four), more come only from a script.
WAITING_PER_RENDERER = 8
# How long a request waits, in all, for its turn and for another request's render of the same sample
# before a 503: with the render itself (about 3 s for a 2048-pixel sample at full resolution here)
# well within gunicorn's 30-second worker timeout.
TURN_WAIT_SECONDS = 15
RETRY_AFTER_SECONDS = 2


class PanelBusy(Exception):
    """The panel cannot be rendered now without waiting too long; ask again after ``RETRY_AFTER_SECONDS``."""


def sample_dir(store_key: str, settings_digest: str) -> Path:
    """The folder of the panels of the sample stored under ``store_key`` for the given display settings."""
    key = hashlib.sha256(f"{RENDERING_VERSION}\0{store_key}\0{settings_digest}".encode()).hexdigest()
    return panels_dir() / key[:2] / key


def panel_path(store_key: str, settings_digest: str, panel: str, resolution: str) -> Path:
    """Where a panel of the sample stored under ``store_key`` is cached for the given display settings."""
    return sample_dir(store_key, settings_digest) / f"{resolution}-{panel}.webp"


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


def panels_dir() -> Path:
    return Path(settings.DATA_DIR) / "panels"


@contextlib.contextmanager
def _flock(path: Path, deadline: float) -> Iterator[bool]:
    """An exclusive lock on ``path`` (created when missing), waited for until ``deadline`` (a
    ``time.monotonic()`` value); yields whether it was taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.02)
        yield True
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def renderer_turn(renderer: str, deadline: float) -> Iterator[None]:
    """The turn of ``renderer`` (a person) to render: one of their few waiting places, then their
    single render slot by ``deadline``. Raises ``PanelBusy`` when all places are taken or the turn
    does not come in time."""
    locks = panels_dir() / "locks"
    with contextlib.ExitStack() as held:
        for place in range(WAITING_PER_RENDERER):
            attempt = contextlib.ExitStack()
            if attempt.enter_context(_flock(locks / f"{renderer}-waiting-{place}.lock", 0)):
                held.push(attempt)
                break
            attempt.close()
        else:
            raise PanelBusy(f"{renderer} has {WAITING_PER_RENDERER} panel requests waiting already")
        if not held.enter_context(_flock(locks / f"{renderer}-render.lock", deadline)):
            raise PanelBusy(f"{renderer}'s other renders did not leave a turn in time")
        yield


@contextlib.contextmanager
def sample_lock(store_key: str, settings_digest: str, resolution: str, deadline: float) -> Iterator[None]:
    """The one right to render a sample's panels at a resolution; raises ``PanelBusy`` when another
    request's render of them does not end by ``deadline``."""
    folder = sample_dir(store_key, settings_digest)
    with _flock(folder / f"{resolution}.lock", deadline) as taken:
        if not taken:
            raise PanelBusy(f"the render of {folder.name} did not end in time")
        yield
