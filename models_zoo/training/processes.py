"""The processes of one training: one by default, N under ``torchrun --nproc_per_node N``.

torchrun tells each process its place through WORLD_SIZE, RANK and LOCAL_RANK. The first process
(rank 0) is the only one that writes the database and files; a decision such as creating the run is
taken there and handed to the others, so that N processes make one run, not N.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch.distributed as dist
from django.core.management.base import CommandError

Decision = TypeVar("Decision")


@dataclass(frozen=True)
class Processes:
    world_size: int
    rank: int
    local_rank: int

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


def current_processes() -> Processes:
    return Processes(
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        rank=int(os.environ.get("RANK", "0")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def join_process_group(processes: Processes, device: str) -> None:
    """Connect the processes (NCCL between GPUs, gloo between CPU processes); a no-op for one."""
    if processes.world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")


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
