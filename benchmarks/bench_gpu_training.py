"""GapNet-PL training throughput on CUDA, fed from the training store through DataLoader workers.

The paper's setting: 1024x1024 random crops, batch 40, z-scored per crop, SGD with momentum,
bf16 autocast and channels_last; measured with ``torch.compile`` off and on. The data are
synthetic fields written to a training store in a temporary folder first, so that the figure
includes reading and normalising crops, as a real run does.

    python benchmarks/bench_gpu_training.py [--samples 320] [--size 1280] [--workers 8] [--steps 20]

Prints samples/s and peak GPU memory per setting; on a machine without CUDA it says so and exits 0.
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
from models_zoo.training.data import CropDataset, EpochSampler, SplitSamples, train_loader  # noqa: E402
from study.labels import CYTO13  # noqa: E402
from study.store import TrainingStore  # noqa: E402


def write_sample(job: tuple[Path, int, int]) -> tuple[str, list[int]]:
    root, index, size = job
    rng = np.random.default_rng(index)
    locations = draw_locations(rng, CYTO13)
    key = f"{index:06d}.npy"
    TrainingStore(root).write(key, render_sample(index, size, locations))
    return key, locations


def synthetic_store(root: Path, samples: int, size: int, processes: int) -> SplitSamples:
    with ProcessPoolExecutor(processes) as pool:
        written = list(pool.map(write_sample, [(root, i, size) for i in range(samples)], chunksize=4))
    targets = np.zeros((samples, len(CYTO13)), dtype=np.float32)
    for row, (_, locations) in enumerate(written):
        targets[row, locations] = 1.0
    return SplitSamples(list(range(samples)), [key for key, _ in written], targets)


def measure(samples: SplitSamples, root: Path, args: argparse.Namespace, compile_model: bool) -> None:
    device = torch.device("cuda")
    torch.manual_seed(0)
    model = create_model("gapnet_pl").to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    stepped = torch.compile(model) if compile_model else model
    crops = CropDataset(root, samples, args.crop, seed=0)
    sampler = EpochSampler(crops, seed=0)
    loader = train_loader(crops, sampler, args.batch_size, args.workers, pin_memory=True)
    torch.cuda.reset_peak_memory_stats(device)

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        images = images.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.binary_cross_entropy_with_logits(stepped(images).float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    done, started, epoch = 0, None, 0
    while done < args.warmup + args.steps:
        epoch += 1
        sampler.set_epoch(epoch)
        for images, targets in loader:
            if done == args.warmup:
                torch.cuda.synchronize(device)
                started = time.perf_counter()
            step(images, targets)
            done += 1
            if done == args.warmup + args.steps:
                break
    torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    memory = torch.cuda.max_memory_allocated(device) / 2**30
    print(
        f"compile {'on ' if compile_model else 'off'}: {args.steps * args.batch_size / seconds:8.1f} samples/s, "
        f"peak GPU memory {memory:.1f} GiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=320, help="synthetic fields written to the store")
    parser.add_argument("--size", type=int, default=1280, help="field width and height in px (>= --crop)")
    parser.add_argument("--crop", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=40)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument("--warmup", type=int, default=5, help="steps before timing (compilation included)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu_training needs a CUDA GPU; none is available here, so there is nothing to measure.")
        return
    torch.backends.cudnn.benchmark = True
    print(
        f"{torch.cuda.get_device_name()}: GapNet-PL, crop {args.crop}, batch {args.batch_size}, bf16, "
        f"channels_last, {args.workers} DataLoader workers"
    )
    with tempfile.TemporaryDirectory(prefix="bench-gpu-store-") as folder:
        root = Path(folder)
        started = time.perf_counter()
        samples = synthetic_store(root, args.samples, args.size, max(1, args.workers))
        print(f"wrote {args.samples} fields of {args.size} px to a store in {time.perf_counter() - started:.0f} s")
        for compile_model in (False, True):
            measure(samples, root, args, compile_model)


if __name__ == "__main__":
    main()
