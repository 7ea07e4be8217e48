"""Progress inside an epoch where tqdm's bar cannot be seen.

tqdm draws its bar only where standard error is a terminal (the loop passes ``disable=None``); where it is
a pipe or a file (CI, ``make demo 2>&1 | tee demo.log``, ``make demo > log 2>&1``) an epoch would say nothing
until its summary line. There ``PlainProgress`` writes a plain line instead, to the same stream, every 10% of
the epoch or every 50 batches, whichever comes first, and after the last batch:

    epoch 3/10: batch 150/263 (57%), 41.3 samples/s, 00:29 elapsed, about 00:22 left, loss 0.2311
    ...
    epoch 3/10: batch 263/263 (100%), 41.0 samples/s, 00:51 elapsed, loss 0.1984

The loss is the last batch's, as on tqdm's bar.

``Throughput`` is what an epoch's summary line says about speed: the epoch's samples/s, and beside it the
model's rate and the loader's, so that a user sees which of the two bounds training.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Throughput:
    """How fast one epoch trained, and what bounded it, summed over every process.

    ``samples_per_second`` is the epoch's: samples over its wall-clock time. The loader's rate is
    what its processes could deliver: crops over the seconds they spent reading them, times their
    number (the workers of every process, or the training processes themselves without workers).
    The model's rate leaves out the time a process waited for its next batch (on a GPU it is the
    rate at which the process queued work; the GPU runs behind it by a bounded queue).
    """

    samples_per_second: float
    model_samples_per_second: float
    loader_crops_per_second: float
    data_wait_fraction: float

    def describe(self, workers: int) -> str:
        readers = f"{workers} worker{'s' if workers != 1 else ''}" if workers else "no workers"
        return (
            f"{self.samples_per_second:.1f} samples/s: the model {self.model_samples_per_second:.1f} samples/s, "
            f"the loader {self.loader_crops_per_second:.1f} crops/s ({readers}), "
            f"{self.data_wait_fraction:.0%} of the time waiting for data"
        )


def epoch_throughput(samples: float, seconds: float, read_seconds: float, waited: float, readers: int) -> Throughput:
    """:class:`Throughput` from an epoch's totals (``waited``: one process's time waiting for data)."""
    computing = max(seconds - waited, 1e-9)
    return Throughput(
        samples_per_second=samples / seconds,
        model_samples_per_second=samples / computing,
        loader_crops_per_second=samples / max(read_seconds, 1e-9) * readers,
        data_wait_fraction=min(1.0, waited / seconds),
    )
