"""Checkpoints: ``last.pt`` after every epoch (everything needed to continue exactly) and ``best.pt``
(the weights of the best validation macro-F1). Written atomically, so a kill mid-write leaves the
previous checkpoint whole.

Only tensors and plain Python values are stored, so checkpoints load with ``weights_only=True``
and never run code from the file.

The random state of every process is derivable rather than saved: each epoch starts torch's
generators from ``(seed, epoch, rank)`` (:func:`seed_epoch`), and crops come from generators seeded
by ``(seed, epoch, sample)``. ``last.pt`` still holds the first process's generators (and its own
GPU's only, so that a machine with fewer GPUs can resume), restored on resume.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from site_machinery.files import atomic_write

LAST = "last.pt"
BEST = "best.pt"


class CheckpointError(ValueError):
    """A checkpoint that is missing or unreadable; the message names the file."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_write(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The seed of torch's generators for ``epoch`` in process ``rank``: different for every
    process (each draws its own dropout masks) and every epoch, and known without a checkpoint."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, dtype=np.uint64)[0])


def seed_epoch(seed: int, epoch: int, rank: int) -> None:
    """Start torch's generators (CPU and every GPU) for ``epoch`` in process ``rank``."""
    torch.manual_seed(epoch_seed(seed, epoch, rank))


def capture_rng_state(device: torch.device | None = None) -> dict[str, Any]:
    """The state of every random generator the loop draws from: torch (CPU and ``device``'s if it
    is a GPU: this process's own, not every GPU the machine has), NumPy, Python."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if device is not None and device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device | None = None) -> None:
    """Set the generators to ``state``; a GPU's only on ``device``. Checkpoints written before held
    every GPU's state, a list: ``device``'s index in it is taken where there is one."""
    torch.set_rng_state(state["torch"])
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python_state = state["python"]
    random.setstate((python_state["version"], tuple(python_state["internal"]), python_state["gauss"]))
    saved = state.get("cuda")
    if saved is None or device is None or device.type != "cuda":
        return
    index = device.index if device.index is not None else torch.cuda.current_device()
    if isinstance(saved, (list, tuple)):
        if index >= len(saved):
            return
        saved = saved[index]
    torch.cuda.set_rng_state(saved, device)
