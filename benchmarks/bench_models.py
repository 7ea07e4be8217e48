"""Throughput of every architecture, and of GapNet-PL's whole-image prediction.

For each model: parameters, multiply-accumulates per sample, training samples/s (forward,
backward and an SGD step on random crops) and inference samples/s at ``--crop``; then GapNet-PL
whole-image predictions/s at ``--whole-image`` px (1024 tiles, probabilities averaged), and what the
tiling of a 3072 px image costs besides the network.

    python benchmarks/bench_models.py [--crop 256] [--batch-size 2] [--device cuda] [--iterations 3]

The device defaults to CUDA where there is one (then with channels_last, as training runs), else
the CPU. A training step is the training loop's: forward, backward, clipping at global norm 5, SGD.

Figures only; nothing is asserted. The first iteration of each measurement is a warm-up.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models_zoo.complexity import count_macs, count_parameters  # noqa: E402
from models_zoo.registry import LocalizationModel, create_model, list_models  # noqa: E402
from models_zoo.tiling import predict_whole_image  # noqa: E402


def rate(step, items: int, iterations: int, device: torch.device) -> float:
    """Items per second over ``iterations`` calls of ``step``, after one warm-up call."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return items * iterations / (time.perf_counter() - start)


def bench_model(name: str, args: argparse.Namespace, device: torch.device) -> None:
    model = create_model(name).to(device)
    crops = torch.randn(args.batch_size, 4, args.crop, args.crop, device=device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        crops = crops.contiguous(memory_format=torch.channels_last)
    targets = (torch.rand(args.batch_size, model.num_classes, device=device) < 0.2).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    loss_function = torch.nn.BCEWithLogitsLoss()

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            loss = loss_function(model(crops).float(), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()

    def inference_step() -> None:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            model(crops)

    model.train()
    training = rate(train_step, args.batch_size, args.iterations, device)
    model.eval()
    inference = rate(inference_step, args.batch_size, args.iterations, device)
    macs = count_macs(model, (4, args.crop, args.crop))
    print(
        f"{name:<12} {count_parameters(model):>13,} {macs / 1e9:>10.2f} "
        f"{training:>12.2f} {inference:>12.2f}",
        flush=True,
    )


def bench_whole_image(args: argparse.Namespace, device: torch.device) -> None:
    model = create_model("gapnet_pl").to(device)
    size = args.whole_image
    image = torch.randn(4, size, size)
    per_second = rate(
        lambda: predict_whole_image(model, image, batch_size=args.tile_batch_size, device=device, amp=args.amp),
        1,
        args.iterations,
        device,
    )
    print(f"GapNet-PL whole-image predictions/s at {size}x{size} (1024 tiles): {per_second:.2f}")


class Averages(LocalizationModel):
    """A model that only averages its input: what whole-image prediction costs besides the network."""

    def __init__(self):
        super().__init__(num_classes=13, in_channels=4)
        self.classifier = self.make_classifier(13)

    def make_classifier(self, num_classes: int) -> torch.nn.Module:
        return torch.nn.Linear(4, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def bench_tiling(args: argparse.Namespace, device: torch.device) -> None:
    """Milliseconds of tiling per 3072 px image (one transfer, tiles cut on the device, one read back)."""
    model = Averages().to(device)
    image = torch.randn(4, 3072, 3072)
    per_second = rate(
        lambda: predict_whole_image(model, image, batch_size=args.tile_batch_size, device=device), 1,
        args.iterations, device,
    )
    print(f"tiling alone (a model that only averages), 3072x3072 image, 9 tiles: {1000 / per_second:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, default=256, help="crop size in px (default 256)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda, cuda:1, ... (default: cuda if any)"
    )
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations after a warm-up")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    parser.add_argument("--models", nargs="+", default=None, help="architectures (default: all)")
    parser.add_argument("--whole-image", type=int, default=2048, help="whole-image size in px")
    parser.add_argument("--tile-batch-size", type=int, default=4)
    args = parser.parse_args()
    device = torch.device(args.device)
    names = args.models or list_models()
    unknown = sorted(set(names) - set(list_models()))
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(list_models())}")

    print(
        f"device {device}, {torch.get_num_threads()} CPU threads, crop {args.crop}, "
        f"batch {args.batch_size}, amp {args.amp}"
    )
    print(f"{'model':<12} {'parameters':>13} {'GMACs/img':>10} {'train img/s':>12} {'infer img/s':>12}")
    for name in names:
        bench_model(name, args, device)
    bench_whole_image(args, device)
    bench_tiling(args, device)


if __name__ == "__main__":
    main()
