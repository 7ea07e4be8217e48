"""The training loop, top to bottom in the order it runs (the paper's section 3.1 recipe).

One process trains on the CPU or one GPU; ``torchrun --nproc-per-node N manage.py train ...``
starts N processes that train together through DistributedDataParallel: each reads its share of
every epoch's samples (``DistributedSampler``) in its share of the global batch, gradients are
averaged, validation images are shared out and their probabilities gathered, and only rank 0 writes
files and the database. The single-process path runs the same code with a world of one.

Each epoch starts torch's generators from ``(seed, epoch, rank)``: every process draws its own
dropout masks, and a resumed run draws the same ones as an uninterrupted run, with or without loader
workers. The loader hands over raw crops, z-scored on the device; each epoch's line says how fast
the loader read crops beside how fast the model trained, so that it shows which of the two bounds
training.

Two options go beyond the paper (both off by default; see ``models_zoo.training.config``):
``average_weights`` keeps an exponential moving average of the weights (``AveragedModel``, batch-norm
buffers included), updated after every optimizer step; it is what is validated and kept as the best
model, and ``last.pt`` holds it beside the raw weights so that a resume continues it exactly.
``tta`` validates each tile as the mean over its 8 flips and quarter turns.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from django.utils import timezone
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from models_zoo.models import EpochMetric, ModelRun
from models_zoo.registry import create_model
from models_zoo.runs import SoftmaxOutputs, model_checkpoint, save_run_model
from models_zoo.tiling import predict_whole_image
from models_zoo.training.checkpoint import (
    BEST,
    LAST,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    seed_epoch,
)
from models_zoo.training.config import TrainConfig
from models_zoo.training.data import (
    CropDataset,
    CropLoader,
    EpochSampler,
    SplitSamples,
    WholeImageDataset,
    device_crops,
    split_samples,
    train_loader,
    whole_image_loader,
)
from models_zoo.training.processes import (
    Processes,
    broadcast_buffers,
    current_processes,
    per_process_batch,
    process_device,
    process_group,
)
from models_zoo.training.progress import PlainProgress, Throughput, epoch_throughput
from models_zoo.training.validation import ValidationMetrics, fit_thresholds, validation_metrics
from study.store import sample_store

METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class TrainOutcome:
    epochs_trained: int
    last_epoch: int
    best_epoch: int | None
    best_val_macro_f1: float | None
    thresholds: list[float] | None


def train(config: TrainConfig, run: ModelRun, resume: bool = False) -> TrainOutcome:
    """Train ``run`` with ``config`` up to ``config.epochs``, continuing from ``last.pt`` if ``resume``.

    Under torchrun the processes connect here unless the caller has connected them (the train
    command does, before it creates the run); whoever connects them disconnects them.
    """
    processes = current_processes()
    with process_group(processes, config.device):
        return _train(config, run, resume, processes)


def _train(config: TrainConfig, run: ModelRun, resume: bool, processes: Processes) -> TrainOutcome:
    device = _process_device(config, processes)
    if processes.is_writer:
        run.directory.mkdir(parents=True, exist_ok=True)
    # --batch-size is the global batch, shared out; the rate stays the configured one (processes.py)
    batch_size = per_process_batch(config.batch_size, processes.world_size)

    # -- seeds: the model starts the same in every process; each epoch reseeds per process (below)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)

    data = _data(config, run, processes, batch_size, device)
    weights = _weights(config, run, device)
    optimisation = _optimisation(config, weights.model)
    start = _resume(run, processes, device, weights, optimisation) if resume else Start(1, None, -math.inf)
    if processes.is_writer:
        world_size = processes.world_size
        tqdm.write(
            f"{world_size} process{'es' if world_size > 1 else ''}, global batch {config.batch_size}"
            + (f" ({batch_size} per process)" if world_size > 1 else "")
            + f", learning rate {optimisation.optimizer.param_groups[0]['lr']:g}"
        )
    stepped = _stepped(config, weights.model, device, processes)

    best_epoch, best_f1 = start.best_epoch, start.best_f1
    for epoch in range(start.epoch, config.epochs + 1):
        trained = _train_epoch(epoch, config, processes, device, data, weights, optimisation, stepped)
        probabilities = _validation_probabilities(config, processes, device, data, weights)
        metrics = validation_metrics(probabilities, data.val_samples.targets, config.single_class)
        optimisation.scheduler.step(metrics.macro_f1)
        improved = metrics.macro_f1 > best_f1
        if improved:
            best_epoch, best_f1 = epoch, metrics.macro_f1
        if processes.is_writer:
            _record_and_checkpoint(
                config, run, epoch, trained, metrics, probabilities, improved, best_epoch, best_f1,
                processes, batch_size, device, weights, optimisation,
            )

    thresholds = _finish(config, run, processes, data, best_epoch)
    return TrainOutcome(
        epochs_trained=max(0, config.epochs - start.epoch + 1),
        last_epoch=config.epochs,
        best_epoch=best_epoch,
        best_val_macro_f1=None if best_epoch is None else best_f1,
        thresholds=thresholds,
    )


def _process_device(config: TrainConfig, processes: Processes) -> torch.device:
    """The process's device (torchrun sets WORLD_SIZE, RANK and LOCAL_RANK), TF32 and cuDNN's
    autotuning allowed on a GPU."""
    device = process_device(config.device, processes)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


@dataclass(frozen=True)
class TrainingData:
    """Random crops of the training split, in this process's batches, and this process's share of
    the validation split's whole images."""

    val_samples: SplitSamples
    sampler: EpochSampler
    batches: CropLoader
    val_images: DataLoader


def _data(
    config: TrainConfig, run: ModelRun, processes: Processes, batch_size: int, device: torch.device
) -> TrainingData:
    on_cuda = device.type == "cuda"
    train_samples = split_samples(
        run.dataset, "train", config.single_class, config.max_train_samples, config.seed
    )
    val_samples = split_samples(run.dataset, "val", config.single_class)
    crops = CropDataset(sample_store(), train_samples, config.crop, config.seed, config.augment)
    sampler = EpochSampler(crops, config.seed, processes.rank, processes.world_size)
    batches = train_loader(crops, sampler, batch_size, config.workers, pin_memory=on_cuda)
    val_images = whole_image_loader(
        WholeImageDataset(sample_store(), val_samples),
        list(range(processes.rank, len(val_samples), processes.world_size)),
        config.workers,
        pin_memory=on_cuda,
    )
    return TrainingData(val_samples, sampler, batches, val_images)


@dataclass(frozen=True)
class Weights:
    """The model that trains; beside it (beyond the paper) the exponential moving average of its
    weights, batch-norm statistics included, updated after every optimizer step. ``validated`` is what
    is validated and kept as the best (the averaged weights when averaging), ``evaluated`` the same
    with a softmax for a single-class run."""

    model: torch.nn.Module
    averaged: AveragedModel | None
    validated: torch.nn.Module
    evaluated: torch.nn.Module


def _weights(config: TrainConfig, run: ModelRun, device: torch.device) -> Weights:
    """A new model, or the weights a fine-tune starts from; a fine-tune trains the last layer only."""
    model = create_model(config.architecture, num_classes=len(run.dataset.label_set))
    if config.init_checkpoint:
        model.load_state_dict(load_checkpoint(Path(config.init_checkpoint))["model"])
    if config.last_layer_only:
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("classifier."))
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    averaged = None
    if config.average_weights:
        averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.average_decay), use_buffers=True)
    validated = model if averaged is None else averaged.module
    evaluated = SoftmaxOutputs(validated) if config.single_class else validated
    return Weights(model, averaged, validated, evaluated)


@dataclass(frozen=True)
class Optimisation:
    """SGD with momentum on the trained parameters; the rate halves when validation macro-F1
    plateaus. ``penalised`` are the weights (not the biases) the L1 and L2 penalties apply to."""

    trained: list[torch.nn.Parameter]
    penalised: list[torch.nn.Parameter]
    optimizer: torch.optim.SGD
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau


def _optimisation(config: TrainConfig, model: torch.nn.Module) -> Optimisation:
    trained = [p for p in model.parameters() if p.requires_grad]
    penalised = [p for name, p in model.named_parameters() if p.requires_grad and p.ndim > 1]
    optimizer = torch.optim.SGD(trained, lr=config.learning_rate, momentum=config.momentum)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max", factor=config.plateau_factor, patience=config.plateau_patience
    )
    return Optimisation(trained, penalised, optimizer, scheduler)


@dataclass(frozen=True)
class Start:
    """Where the epochs start, and the best validation so far."""

    epoch: int
    best_epoch: int | None
    best_f1: float


def _resume(
    run: ModelRun, processes: Processes, device: torch.device, weights: Weights, optimisation: Optimisation
) -> Start:
    """Weights, optimizer, schedule, best so far and the random generators' state from ``last.pt``."""
    state = load_checkpoint(run.directory / LAST)
    weights.model.load_state_dict(state["model"])
    if weights.averaged is not None:
        weights.averaged.load_state_dict(state["averaged"])
    optimisation.optimizer.load_state_dict(state["optimizer"])
    optimisation.scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"], device)
    if processes.is_writer:
        forget_epochs_after(run, state["epoch"])
    return Start(state["epoch"] + 1, state["best_epoch"], state["best_val_macro_f1"])


def _stepped(
    config: TrainConfig, model: torch.nn.Module, device: torch.device, processes: Processes
) -> torch.nn.Module:
    """The model that trains: DDP across processes, optionally compiled."""
    stepped = model
    if processes.world_size > 1:
        stepped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        stepped = torch.compile(stepped)
    return stepped


@dataclass(frozen=True)
class EpochTraining:
    """One epoch's training: the rate it ran at, its mean loss over every process, and its speed."""

    learning_rate: float
    train_loss: float
    throughput: Throughput


def _train_epoch(
    epoch: int, config: TrainConfig, processes: Processes, device: torch.device, data: TrainingData,
    weights: Weights, optimisation: Optimisation, stepped: torch.nn.Module,
) -> EpochTraining:
    """One random crop per sample (the last, smaller batch left out)."""
    model, optimizer = weights.model, optimisation.optimizer
    world_size, on_cuda = processes.world_size, device.type == "cuda"
    data.sampler.set_epoch(epoch)
    seed_epoch(config.seed, epoch, processes.rank)
    model.train()
    if config.last_layer_only:
        # The frozen layers compute their features as at inference (no dropout, fixed batch-norm
        # statistics), so that a fine-tune changes nothing but the last layer.
        model.eval()
        model.classifier.train()
    learning_rate = optimizer.param_groups[0]["lr"]
    loss_sum, seen, read_seconds, waited = torch.zeros((), device=device), 0, 0.0, 0.0
    label = f"epoch {epoch}/{config.epochs}"
    progress = tqdm(data.batches, desc=label, unit="batch", leave=False, disable=None if processes.is_writer else True)
    # tqdm draws nothing where standard error is not a terminal; plain lines there instead.
    plain = PlainProgress(label, len(data.batches), world_size) if processes.is_writer and progress.disable else None
    started = step_ended = time.perf_counter()
    for step, batch in enumerate(progress):
        waited += time.perf_counter() - step_ended
        read_seconds += batch.read_seconds
        images = device_crops(batch.images, device, channels_last=on_cuda)
        targets = batch.targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
            logits = stepped(images).float()
        if config.single_class:
            loss = F.cross_entropy(logits, targets)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # The gradients of the L1 and L2 penalties on the weights (not the biases).
        with torch.no_grad():
            for parameter in optimisation.penalised:
                parameter.grad.add_(parameter.sign(), alpha=config.l1).add_(parameter, alpha=2 * config.l2)
        torch.nn.utils.clip_grad_norm_(optimisation.trained, config.clip_norm)
        optimizer.step()
        if weights.averaged is not None:
            weights.averaged.update_parameters(model)  # the module itself, never its DDP or compiled wrapper
        loss_sum += loss.detach() * len(images)
        seen += len(images)
        # Reading the loss waits for the GPU, so only now and then: for a visible bar, or a plain line.
        if step % 10 == 0 and not progress.disable:
            progress.set_postfix(loss=f"{loss.item():.4f}")
        elif plain is not None and plain.due(step + 1):
            plain.report(step + 1, seen, loss.item())
        step_ended = time.perf_counter()
    progress.close()
    if on_cuda:
        torch.cuda.synchronize(device)
    train_seconds = time.perf_counter() - started
    totals = torch.tensor([loss_sum.item(), seen, read_seconds, waited], dtype=torch.float64, device=device)
    if world_size > 1:
        dist.all_reduce(totals)
    throughput = epoch_throughput(
        samples=float(totals[1]), seconds=train_seconds, read_seconds=float(totals[2]),
        waited=float(totals[3]) / world_size, readers=max(config.workers, 1) * world_size,
    )
    return EpochTraining(learning_rate, float(totals[0] / totals[1]), throughput)


def _validation_probabilities(
    config: TrainConfig, processes: Processes, device: torch.device, data: TrainingData, weights: Weights
) -> np.ndarray:
    """Whole images of the validation split: tiles' probabilities averaged, gathered from every process.
    Each process updated batch-norm statistics from its own share: rank 0's count for all."""
    broadcast_buffers(weights.model, processes)
    if weights.averaged is not None:  # its module: its count of steps is the same everywhere, and on the CPU
        broadcast_buffers(weights.averaged.module, processes)
    probabilities = np.zeros((len(data.val_samples), weights.model.num_classes))
    mine = [
        (index, predict_whole_image(
            weights.evaluated, image, config.tile, config.eval_batch_size, device, config.amp, tta=config.tta
        ))
        for index, image in data.val_images
    ]
    shares = [mine]
    if processes.world_size > 1:
        shares = [None] * processes.world_size
        dist.all_gather_object(shares, mine)
    for share in shares:
        for index, row in share:
            probabilities[index] = row
    return probabilities


def _record_and_checkpoint(
    config: TrainConfig, run: ModelRun, epoch: int, trained: EpochTraining, metrics: ValidationMetrics,
    probabilities: np.ndarray, improved: bool, best_epoch: int | None, best_f1: float, processes: Processes,
    batch_size: int, device: torch.device, weights: Weights, optimisation: Optimisation,
) -> None:
    """Rank 0's record of an epoch: metrics first, so that a resumed epoch overwrites its row; the
    best model when it improved; ``last.pt``; the epoch's line."""
    record_epoch(
        run, epoch, trained.train_loss, metrics, trained.learning_rate, trained.throughput, best_epoch, best_f1,
        processes=processes.world_size, batch_per_process=batch_size,
    )
    if improved:  # the weights just validated: the averaged ones when averaging
        save_run_model(run, model_checkpoint(
            weights.validated, config.architecture, config.tile, config.single_class, config=config.to_dict(),
            epoch=epoch, val_macro_f1=metrics.macro_f1, val_probabilities=torch.from_numpy(probabilities),
        ))
    averaged = weights.averaged
    save_checkpoint(run.directory / LAST, {
        "config": config.to_dict(), "model": weights.model.state_dict(),
        "optimizer": optimisation.optimizer.state_dict(), "scheduler": optimisation.scheduler.state_dict(),
        "epoch": epoch, "best_epoch": best_epoch, "best_val_macro_f1": best_f1, "rng": capture_rng_state(device),
        "sampler": {"seed": config.seed, "epoch": epoch},
        "averaged": None if averaged is None else averaged.state_dict(),
    })
    tqdm.write(
        f"epoch {epoch}: loss {trained.train_loss:.4f}, val macro-F1 {metrics.macro_f1:.4f}, "
        f"lr {trained.learning_rate:g}, {trained.throughput.describe(config.workers)}"
    )
    sys.stdout.flush()  # a pipe buffers standard output: show each epoch as it ends


def _finish(
    config: TrainConfig, run: ModelRun, processes: Processes, data: TrainingData, best_epoch: int | None
) -> list[float] | None:
    """Once every process has come through every epoch, rank 0 marks the run finished, with per-class
    thresholds tuned on the best epoch's validation probabilities if asked; the thresholds."""
    if processes.world_size > 1:
        dist.barrier()
    thresholds = None
    if processes.is_writer:
        if config.tune_thresholds and not config.single_class and best_epoch is not None:
            best_probabilities = load_checkpoint(run.directory / BEST)["val_probabilities"].numpy()
            thresholds = fit_thresholds(best_probabilities, data.val_samples.targets).tolist()
        # Only a run still running finishes: a process that failed has marked it failed.
        ModelRun.objects.filter(pk=run.pk, status=ModelRun.Status.RUNNING).update(
            thresholds=thresholds, status=ModelRun.Status.FINISHED, finished_at=timezone.now()
        )
        run.refresh_from_db(fields=["thresholds", "status", "finished_at"])
    return thresholds


def record_epoch(
    run: ModelRun, epoch: int, train_loss: float, metrics: ValidationMetrics, learning_rate: float,
    throughput: Throughput, best_epoch: int | None, best_f1: float, processes: int = 1, batch_per_process: int = 0,
) -> None:
    """One line of ``metrics.jsonl``, one ``EpochMetric`` row, and the run's best so far.

    The line also says what bounded the epoch (the loader's crops/s beside the model's samples/s) and
    how the global batch was shared out among processes; the database row keeps its own fields.
    """
    record = {
        "epoch": epoch,
        "train_loss": train_loss,
        "val_macro_f1": metrics.macro_f1,
        "val_per_class_f1": metrics.per_class_f1,
        "val_macro_auc": metrics.macro_auc,
        "learning_rate": learning_rate,
        "samples_per_second": throughput.samples_per_second,
        "model_samples_per_second": throughput.model_samples_per_second,
        "loader_crops_per_second": throughput.loader_crops_per_second,
        "data_wait_fraction": throughput.data_wait_fraction,
        "processes": processes,
        "batch_per_process": batch_per_process,
    }
    with open(run.directory / METRICS_FILE, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    stored = ("train_loss", "val_macro_f1", "val_per_class_f1", "val_macro_auc", "learning_rate", "samples_per_second")
    EpochMetric.objects.update_or_create(run=run, epoch=epoch, defaults={key: record[key] for key in stored})
    run.best_epoch, run.best_val_macro_f1 = best_epoch, best_f1
    run.save(update_fields=["best_epoch", "best_val_macro_f1"])


def forget_epochs_after(run: ModelRun, epoch: int) -> None:
    """Drop what a killed run recorded after its last checkpoint; those epochs will run again."""
    run.epochs.filter(epoch__gt=epoch).delete()
    path = run.directory / METRICS_FILE
    if path.exists():
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["epoch"] <= epoch]
        path.write_text("".join(line + "\n" for line in kept))
