"""The processes of one training: one by default, N under ``torchrun`` (on one machine or several).

torchrun tells each process its place through WORLD_SIZE, RANK and LOCAL_RANK. The first process
(rank 0) is the only one that writes files and the database; a decision such as creating the run is
taken there and handed to the others, so that N processes make one run, not N. The one exception: a
process that fails marks the run failed itself, since it may be the only one that knows.

On GPUs every process takes its own device (``cuda:LOCAL_RANK``, :func:`process_device`) as it joins,
before any collective operation: NCCL runs a collective on the current device, which is otherwise cuda:0
for every process ("Duplicate GPU detected").

The processes leave the group together: each waits at a barrier for the others before it tears its
connections down, since gloo aborts a process whose peer closes a connection it still uses
("terminate called without an active exception"). After a failure there is no barrier: the others may
never come to it, and torchrun stops them anyway.

``--batch-size`` is the global batch: ``per_process_batch`` shares it out. With the paper's rate
unchanged, N processes then take the same steps as one process would (the mean gradient over the
same number of samples), so a run is the paper's recipe whatever the number of GPUs, and a run may
be resumed on a different number of them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from django.core.management.base import CommandError
from torch import nn

from models_zoo.training.config import ConfigError

Decision = TypeVar("Decision")


@dataclass(frozen=True)
class Processes:
    world_size: int
    rank: int
    local_rank: int

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


class Terminated(Exception):
    """SIGTERM reached a process of a distributed run (torchrun stops the others when one fails)."""


def current_processes() -> Processes:
    return Processes(
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def process_device(device: str, processes: Processes) -> torch.device:
    """The device this process computes on, made the current one on CUDA: under torchrun the GPU of its
    ``LOCAL_RANK``, alone the one ``device`` names (``cuda`` is the current one)."""
    placed = torch.device(device)
    if placed.type != "cuda":
        return placed
    if processes.world_size > 1:
        count = torch.cuda.device_count()
        if processes.local_rank >= count:
            raise ConfigError(
                f"device {device}: process {processes.rank} (LOCAL_RANK {processes.local_rank}) has no GPU of its "
                f"own: this machine has {count}; start at most {count} processes per machine "
                f"(torchrun --nproc_per_node {count})"
            )
        placed = torch.device("cuda", processes.local_rank)
    elif placed.index is None:
        placed = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.set_device(placed)
    return placed


def join_process_group(processes: Processes, device: str) -> bool:
    """Connect the processes (NCCL between GPUs, gloo between CPU processes); a no-op for one, or
    where they are connected already. On CUDA the process takes its own GPU first.

    True where this call connected them (so that the caller also leaves, :func:`leave_process_group`).
    """
    if processes.world_size == 1 or dist.is_initialized():
        return False
    if device.startswith("cuda"):
        process_device(device, processes)
        dist.init_process_group(backend="nccl")
    else:
        dist.init_process_group(backend="gloo")
    return True


def leave_process_group(in_step: bool) -> None:
    """Disconnect the processes; ``in_step`` where every process comes here alike (none failed), so that
    each first waits for the others (see the module's docstring)."""
    if not dist.is_initialized():
        return
    if in_step:
        dist.barrier()
    dist.destroy_process_group()


def _terminate(signum, frame) -> None:
    raise Terminated("stopped by SIGTERM (torchrun stops every process when one of them fails)")


@contextmanager
def process_group(processes: Processes, device: str) -> Iterator[None]:
    """The processes connected for the block, and disconnected after it, however it ends (together
    where the block ended without an exception).

    Under torchrun, SIGTERM (which torchrun sends the other processes when one fails) becomes a
    :class:`Terminated` exception inside the block, so that a process it stops still marks the run
    failed and leaves the group.
    """
    joined = join_process_group(processes, device)
    previous = signal.signal(signal.SIGTERM, _terminate) if processes.world_size > 1 else None
    in_step = False
    try:
        yield
        in_step = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if joined:
            leave_process_group(in_step)


def per_process_batch(batch_size: int, world_size: int) -> int:
    """Each process's share of the global batch ``batch_size``."""
    if batch_size % world_size:
        raise ConfigError(
            f"batch_size {batch_size} is the global batch and does not divide among {world_size} processes; "
            f"give a multiple of {world_size}"
        )
    return batch_size // world_size


def broadcast_buffers(module: nn.Module, processes: Processes) -> None:
    """Every process gets rank 0's buffers of ``module`` (batch-norm statistics and the like).

    Each process updates them from its own share of a batch, so without this each would validate a
    different model.
    """
    if processes.world_size == 1:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def decided_by_writer(processes: Processes, decide: Callable[[], Decision]) -> Decision:
    """``decide()`` run by the first process only, its result given to every process; a
    ``CommandError`` there stops every process with the same message."""
    if processes.world_size == 1:
        return decide()
    outcome: list = [None]
    if processes.is_writer:
        try:
            outcome[0] = ("decided", decide())
        except CommandError as error:
            outcome[0] = ("refused", str(error))
    dist.broadcast_object_list(outcome, src=0)
    kind, value = outcome[0]
    if kind == "refused":
        raise CommandError(value)
    return value
