"""Several training processes, checked on the CPU: the device each takes, the global batch, random state per
process, leaving the process group, failures on any rank (batch-norm statistics: test_training_batch_norm)."""

import os
import signal

import pytest
import torch
import torch.distributed as dist
from django.core.management import call_command
from django.core.management.base import CommandError

from models_zoo.management.commands import train as train_command
from models_zoo.models import ModelRun
from models_zoo.training import checkpoint, loop
from models_zoo.training.checkpoint import capture_rng_state, epoch_seed, restore_rng_state
from models_zoo.training.config import ConfigError, TrainConfig
from models_zoo.training.processes import (
    Processes,
    Terminated,
    join_process_group,
    per_process_batch,
    process_device,
    process_group,
)
from tests.factories import pixel_dataset

CLASSES = [[i % 13] for i in range(20)]
SPLITS = ["train"] * 14 + ["val"] * 6
TINY = dict(crop=32, batch_size=4, lr=0.01, seed=3, workers=0)


def test_a_process_under_torchrun_takes_the_gpu_of_its_local_rank_and_alone_the_one_named(monkeypatch):
    placed = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 8)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", placed.append)
    assert process_device("cpu", Processes(world_size=2, rank=1, local_rank=1)) == torch.device("cpu")
    assert process_device("cuda", Processes(world_size=4, rank=3, local_rank=1)) == torch.device("cuda", 1)
    assert process_device("cuda:5", Processes(world_size=1, rank=0, local_rank=0)) == torch.device("cuda", 5)
    assert process_device("cuda", Processes(world_size=1, rank=0, local_rank=0)) == torch.device("cuda", 2)
    assert placed == [torch.device("cuda", 1), torch.device("cuda", 5), torch.device("cuda", 2)]
    with pytest.raises(ConfigError, match=r"process 9 \(LOCAL_RANK 8\) has no GPU of its own: this machine has 8"):
        process_device("cuda", Processes(world_size=16, rank=9, local_rank=8))


def test_each_gpu_process_takes_its_own_device_before_joining(monkeypatch):
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set_device", device)))
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append(("init", backend)))
    assert join_process_group(Processes(world_size=4, rank=3, local_rank=1), "cuda")
    assert calls == [("set_device", torch.device("cuda", 1)), ("init", "nccl")]
    calls.clear()
    assert join_process_group(Processes(world_size=2, rank=1, local_rank=1), "cpu")
    assert calls == [("init", "gloo")]
    calls.clear()
    assert not join_process_group(Processes(world_size=1, rank=0, local_rank=0), "cuda")
    assert calls == []


@pytest.fixture
def group_calls(monkeypatch):
    """What the processes' group is asked to do: join, wait at a barrier, leave."""
    calls = []
    monkeypatch.setattr(dist, "is_initialized", lambda: "init" in calls and "destroy" not in calls)
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append("init"))
    monkeypatch.setattr(dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))
    return calls


def test_processes_that_end_the_block_alike_wait_for_each_other_before_they_leave(group_calls):
    with process_group(Processes(world_size=2, rank=1, local_rank=1), "cpu"):
        assert group_calls == ["init"]
    assert group_calls == ["init", "barrier", "destroy"]


def test_the_process_group_is_left_however_the_block_ends_and_sigterm_becomes_an_exception(group_calls):
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated, match="SIGTERM"):
        with process_group(Processes(world_size=2, rank=1, local_rank=1), "cpu"):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between two bytecodes
                pass
    assert group_calls == ["init", "destroy"], "after a failure no barrier: the others may never come to it"
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_batch_is_global_and_shared_out():
    assert per_process_batch(40, 1) == 40
    assert per_process_batch(40, 4) == 10
    with pytest.raises(ConfigError, match=r"batch_size 3 is the global batch and does not divide among 2 processes"):
        per_process_batch(3, 2)


@pytest.mark.django_db
def test_the_train_command_refuses_a_batch_that_does_not_share_out_before_joining(monkeypatch):
    pixel_dataset("tiny", CLASSES, SPLITS)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setattr(dist, "init_process_group", lambda **kwargs: pytest.fail("joined"))
    with pytest.raises(CommandError, match=r"--batch-size: batch_size 10 is the global batch .* among 4 processes"):
        call_command("train", "gapnet_pl", dataset="tiny", batch_size=10)
    assert not ModelRun.objects.exists()


def test_every_process_and_every_epoch_has_its_own_seed():
    seeds = {epoch_seed(0, epoch, rank) for epoch in range(1, 4) for rank in range(4)}
    assert len(seeds) == 12
    assert epoch_seed(5, 2, 1) == epoch_seed(5, 2, 1)
    checkpoint.seed_epoch(5, 2, 0)
    first = torch.rand(4)
    checkpoint.seed_epoch(5, 2, 1)
    assert not torch.equal(torch.rand(4), first)  # another rank draws other dropout masks


class FakeCudaGenerators:
    """Eight GPUs' generators, where each state is a tensor holding the GPU's index."""

    def __init__(self, monkeypatch, count=8):
        self.count = count
        self.set = []
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda device: torch.tensor([device.index], dtype=torch.uint8))
        monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: pytest.fail("every GPU's state was read"))
        monkeypatch.setattr(torch.cuda, "set_rng_state", lambda state, device: self.set.append((int(state[0]), device)))
        monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: pytest.fail("every GPU's state was set"))
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_a_checkpoint_keeps_the_random_state_of_its_own_gpu_only(monkeypatch):
    gpus = FakeCudaGenerators(monkeypatch)
    state = capture_rng_state(torch.device("cuda", 5))
    assert torch.equal(state["cuda"], torch.tensor([5], dtype=torch.uint8))
    assert "cuda" not in capture_rng_state(torch.device("cpu"))
    restore_rng_state(state, torch.device("cuda", 0))  # a machine with one GPU resumes it
    assert gpus.set == [(5, torch.device("cuda", 0))]


def test_an_older_checkpoint_with_every_gpus_state_resumes_on_a_machine_with_fewer(monkeypatch):
    gpus = FakeCudaGenerators(monkeypatch, count=1)
    state = capture_rng_state(torch.device("cpu"))
    state["cuda"] = [torch.tensor([i], dtype=torch.uint8) for i in range(8)]  # saved on 8 GPUs
    restore_rng_state(state, torch.device("cuda", 0))
    assert gpus.set == [(0, torch.device("cuda", 0))]
    restore_rng_state(dict(state, cuda=state["cuda"][:1]), torch.device("cuda", 3))  # none saved for cuda:3
    assert gpus.set == [(0, torch.device("cuda", 0))]


@pytest.mark.django_db
def test_a_process_other_than_the_first_that_fails_marks_the_run_failed(monkeypatch):
    dataset = pixel_dataset("tiny", CLASSES, SPLITS)
    run = ModelRun.objects.create(name="two-process", kind="trained", architecture="gapnet_pl", dataset=dataset)
    monkeypatch.setattr(train_command, "current_processes", lambda: Processes(world_size=2, rank=1, local_rank=1))

    def fails(config, run, resume=False):
        raise RuntimeError("out of memory on rank 1")

    monkeypatch.setattr(train_command, "train", fails)
    with pytest.raises(RuntimeError, match="rank 1"):
        train_command.run_training(train_command.Command(), run, TrainConfig())
    run.refresh_from_db()
    assert run.status == ModelRun.Status.FAILED


@pytest.mark.django_db
def test_the_first_process_does_not_mark_finished_a_run_another_process_marked_failed(monkeypatch):
    dataset = pixel_dataset("tiny", CLASSES, SPLITS)
    run = ModelRun.objects.create(name="two-process", kind="trained", architecture="gapnet_pl", dataset=dataset)
    record = loop.record_epoch

    def another_process_fails(run, *args, **kwargs):
        record(run, *args, **kwargs)
        ModelRun.objects.filter(pk=run.pk).update(status=ModelRun.Status.FAILED)

    monkeypatch.setattr(loop, "record_epoch", another_process_fails)
    loop.train(TrainConfig(epochs=1, crop=32, batch_size=4, dataset="tiny"), run)
    run.refresh_from_db()
    assert run.status == ModelRun.Status.FAILED and run.finished_at is None


def test_the_loop_joins_and_leaves_the_group_it_joined(monkeypatch, group_calls):
    monkeypatch.setattr(loop, "current_processes", lambda: Processes(world_size=2, rank=0, local_rank=0))
    monkeypatch.setattr(loop, "_train", lambda *args: (_ for _ in ()).throw(RuntimeError("broken")))
    with pytest.raises(RuntimeError, match="broken"):
        loop.train(TrainConfig(), run=None)
    assert group_calls == ["init", "destroy"]
