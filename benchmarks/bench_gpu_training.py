"""GapNet-PL training throughput on CUDA, fed from the sample store through DataLoader workers.

The paper's setting: 1024x1024 random crops, batch 40, SGD with momentum, bf16 autocast and
channels_last; measured with ``torch.compile`` off and on. The data are synthetic fields written to a
sample store in a temporary folder first, so that the figure includes reading crops, as a real run
does: raw crops from the loader's workers, z-scored on the GPU, the training loop's step.

The timing starts after a warm-up longer than the loader's read-ahead (workers x 2 batches) and
compilation, and lasts many times the read-ahead, within one epoch (no restart of the read-ahead), so
that a loader slower than the GPU shows: beside each samples/s it prints the loader's crops/s (what
its workers read per second of their time, times their number) and the share of the time the step
waited for a batch, and first the loader's crops/s on its own, without a model.

    python benchmarks/bench_gpu_training.py [--samples 64] [--size 1280] [--workers 8] [--steps 200]

On a machine without CUDA it says so and exits 0 (``--device cpu`` runs it on the CPU, a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.locations import draw_locations  # noqa: E402
from synthetic.render import render_sample  # noqa: E402
from models_zoo.registry import create_model  # noqa: E402
from models_zoo.training.data import (  # noqa: E402
    PREFETCH_BATCHES,
    CropDataset,
    EpochSampler,
    SplitSamples,
    device_crops,
    train_loader,
)
from models_zoo.training.progress import epoch_throughput  # noqa: E402
from study.labels import CYTO13  # noqa: E402
from study.store import SampleStore  # noqa: E402


def write_sample(job: tuple[Path, int, int]) -> tuple[str, list[int]]:
    root, index, size = job
    rng = np.random.default_rng(index)
    locations = draw_locations(rng, CYTO13)
    key = f"{index:06d}.npy"
    SampleStore(root).write(key, render_sample(index, size, locations))
    return key, locations


def synthetic_store(root: Path, files: int, size: int, processes: int, samples: int) -> SplitSamples:
    """``samples`` training samples over ``files`` stored fields (each field stands for several
    samples, each with its own random crops), so that one epoch outlasts the measurement."""
    with ProcessPoolExecutor(processes) as pool:
        written = list(pool.map(write_sample, [(root, i, size) for i in range(files)], chunksize=4))
    targets = np.zeros((samples, len(CYTO13)), dtype=np.float32)
    keys = []
    for row in range(samples):
        key, locations = written[row % files]
        keys.append(key)
        targets[row, locations] = 1.0
    return SplitSamples(list(range(samples)), keys, targets)


def loader_alone(samples: SplitSamples, root: Path, args: argparse.Namespace, pin: bool) -> float:
    """Crops per second the loader delivers with nothing else running, after its read-ahead is spent."""
    crops = CropDataset(SampleStore(root), samples, args.crop, seed=1)
    sampler = EpochSampler(crops, seed=1)
    sampler.set_epoch(1)
    batches = iter(train_loader(crops, sampler, args.batch_size, args.workers, pin_memory=pin))
    for _ in range(args.warmup):
        next(batches)
    started = time.perf_counter()
    for _ in range(args.steps // 2):
        next(batches)
    return args.steps // 2 * args.batch_size / (time.perf_counter() - started)


def measure(samples: SplitSamples, root: Path, args: argparse.Namespace, compile_model: bool) -> None:
    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    torch.manual_seed(0)
    model = create_model("gapnet_pl").to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    stepped = torch.compile(model) if compile_model else model
    crops = CropDataset(SampleStore(root), samples, args.crop, seed=0)
    sampler = EpochSampler(crops, seed=0)
    sampler.set_epoch(1)
    batches = iter(train_loader(crops, sampler, args.batch_size, args.workers, pin_memory=on_cuda))
    if on_cuda:
        torch.cuda.reset_peak_memory_stats(device)

    def step(batch) -> None:
        images = device_crops(batch.images, device, channels_last=True)
        targets = batch.targets.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = F.binary_cross_entropy_with_logits(stepped(images).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    for _ in range(args.warmup):  # compilation, cuDNN's choices, the loader's read-ahead spent
        step(next(batches))
    if on_cuda:
        torch.cuda.synchronize(device)
    read_seconds = waited = 0.0
    started = step_ended = time.perf_counter()
    for _ in range(args.steps):
        batch = next(batches)
        waited += time.perf_counter() - step_ended
        read_seconds += batch.read_seconds
        step(batch)
        step_ended = time.perf_counter()
    if on_cuda:
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    rates = epoch_throughput(
        samples=args.steps * args.batch_size, seconds=seconds, read_seconds=read_seconds, waited=waited,
        readers=max(args.workers, 1),
    )
    memory = f", peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB" if on_cuda else ""
    print(
        f"compile {'on ' if compile_model else 'off'}: {rates.samples_per_second:8.1f} samples/s over {args.steps} "
        f"steps; the loader {rates.loader_crops_per_second:.0f} crops/s, {rates.data_wait_fraction:.0%} of the time "
        f"waiting for data{memory}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64, help="synthetic fields written to the store")
    parser.add_argument("--size", type=int, default=1280, help="field width and height in px (>= --crop)")
    parser.add_argument("--crop", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--steps", type=int, default=200, help="timed steps (at least 4 x the read-ahead)")
    parser.add_argument("--warmup", type=int, help="steps before timing (default: 2 x the read-ahead + 5)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--no-compile", action="store_true", help="measure without torch.compile only")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu_training needs a CUDA GPU; none is available here, so there is nothing to measure.")
        return
    read_ahead = max(args.workers, 1) * PREFETCH_BATCHES
    args.warmup = args.warmup if args.warmup is not None else 2 * read_ahead + 5
    if args.steps < 4 * read_ahead:
        parser.error(f"--steps {args.steps}: time at least 4 x the loader's read-ahead of {read_ahead} batches")
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name()
    else:
        where = "CPU"
    print(
        f"{where}: GapNet-PL, crop {args.crop}, batch {args.batch_size}, bf16, channels_last, "
        f"{args.workers} DataLoader workers (read-ahead {read_ahead} batches), {os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory(prefix="bench-gpu-store-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        # One epoch covers every warm-up and timed step of a measurement.
        samples = synthetic_store(
            root, args.samples, args.size, max(1, args.workers), (args.warmup + args.steps) * args.batch_size
        )
        print(f"wrote {args.samples} fields of {args.size} px to a store in {time.perf_counter() - started:.0f} s")
        alone = loader_alone(samples, root, args, pin=args.device == "cuda")
        print(
            f"the loader alone: {alone:8.1f} crops/s ({alone / max(args.workers, 1):.0f} per worker)", flush=True
        )
        for compile_model in (False,) if args.no_compile else (False, True):
            measure(samples, root, args, compile_model)


if __name__ == "__main__":
    main()
