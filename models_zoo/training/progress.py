"""Progress inside an epoch where tqdm's bar cannot be seen.

tqdm draws its bar only where standard error is a terminal (the loop passes ``disable=None``); where it is
a pipe or a file (CI, ``make demo 2>&1 | tee demo.log``, ``make demo > log 2>&1``) an epoch would say nothing
until its summary line. There ``PlainProgress`` writes a plain line instead, to the same stream, every 10% of
the epoch or every 50 batches, whichever comes first, and after the last batch:

    epoch 3/10: batch 150/263 (57%), 41.3 samples/s, 00:29 elapsed, about 00:22 left, loss 0.2311
    ...
    epoch 3/10: batch 263/263 (100%), 41.0 samples/s, 00:51 elapsed, loss 0.1984

The loss is the last batch's, as on tqdm's bar.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from tqdm import tqdm

EVERY_BATCHES = 50
EVERY_FRACTION = 0.1


def plain_interval(batches: int) -> int:
    """Batches between two plain lines: 10% of the epoch or 50, whichever is fewer (at least 1)."""
    return max(1, min(EVERY_BATCHES, math.ceil(batches * EVERY_FRACTION)))


class PlainProgress:
    """Plain progress lines for one epoch of ``batches`` batches, to ``stream`` (standard error by default).

    ``world_size`` processes train in step, each on its own share, so the rate counts the samples of one
    process (the writer) times ``world_size``.
    """

    def __init__(self, label: str, batches: int, world_size: int = 1, stream: TextIO | None = None):
        self.label = label
        self.batches = batches
        self.world_size = world_size
        self.stream = sys.stderr if stream is None else stream
        self.every = plain_interval(batches)
        self.started = time.perf_counter()

    def due(self, done: int) -> bool:
        """Whether a line is due after ``done`` batches."""
        return done % self.every == 0 or done == self.batches

    def report(self, done: int, seen: int, loss: float) -> None:
        """A line after ``done`` batches, ``seen`` samples of this process's share, the last batch's loss."""
        elapsed = time.perf_counter() - self.started
        rate = seen * self.world_size / elapsed if elapsed > 0 else 0.0
        left = elapsed / done * (self.batches - done)
        remaining = f", about {tqdm.format_interval(left)} left" if done < self.batches else ""
        self.stream.write(
            f"{self.label}: batch {done}/{self.batches} ({done / self.batches:.0%}), {rate:.1f} samples/s, "
            f"{tqdm.format_interval(elapsed)} elapsed{remaining}, loss {loss:.4f}\n"
        )
        self.stream.flush()
