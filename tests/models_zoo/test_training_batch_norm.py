"""Two gloo processes: each updates batch-norm statistics from its own share of a batch, as under
DistributedDataParallel, and ``broadcast_buffers`` (called before validation) gives every process rank 0's.
The model is not wrapped: the wrapper's gradient hooks play no part in what is checked.

The processes are spawned, not forked (a fork of a process with threads may deadlock), so they import this
module: it imports nothing that needs Django set up.
"""

import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from models_zoo.training.processes import Processes, broadcast_buffers, leave_process_group


def batch_norm_process(rank: int, world_size: int, init_file: str, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    in_step = False
    try:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(4, 3, 3), nn.BatchNorm2d(3))
        model(torch.randn(2, 4, 8, 8) + rank)  # each process's own share of a batch
        before = model[1].running_mean.clone()
        broadcast_buffers(model, Processes(world_size, rank, rank))
        # As lists: tensors would travel as shared memory, unreadable once this process has ended.
        results.put((rank, before.tolist(), model[1].running_mean.tolist(), int(model[1].num_batches_tracked)))
        in_step = True
    finally:
        # As training leaves the group: together, so that neither closes a connection the other still uses.
        leave_process_group(in_step)


def test_batch_norm_statistics_are_rank_0s_in_every_process_before_validation():
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    with tempfile.TemporaryDirectory() as folder:
        mp.start_processes(
            batch_norm_process, args=(2, os.path.join(folder, "init"), results), nprocs=2, start_method="spawn"
        )
    received = {rank: rest for rank, *rest in (results.get() for _ in range(2))}
    (before_0, after_0, count_0), (before_1, after_1, count_1) = received[0], received[1]
    assert before_0 != before_1  # each process updated them from its own samples
    assert after_0 == before_0 and after_1 == before_0
    assert count_0 == count_1 == 1
