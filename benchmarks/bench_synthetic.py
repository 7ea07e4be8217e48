"""Speed of the synthetic microscopy generator on one core: samples per second at 512 px.

Run: .venv/bin/python benchmarks/bench_synthetic.py [--samples N] [--size PX]
"""

import os

# One thread everywhere, set before numpy and torch load their thread pools.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synthetic import generate_dataset, render_sample  # noqa: E402

TARGET = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    render_sample(0, args.size, [0])  # warm up imports and allocations

    start = time.perf_counter()
    for seed in range(args.samples):
        render_sample(seed, args.size, [seed % 13])
    rendered = args.samples / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        generate_dataset(out, args.samples, args.size, seed=1)
        written = args.samples / (time.perf_counter() - start)
        start = time.perf_counter()
        generate_dataset(Path(out) / "png", args.samples, args.size, seed=1, image_format="png")
        written_png = args.samples / (time.perf_counter() - start)

    print(f"synthetic: {written:.1f} samples/s at {args.size} px on 1 core (target >= {TARGET:.0f})"
          " - rendered and written as 16-bit TIFF")
    print(f"synthetic render only: {rendered:.1f} samples/s at {args.size} px on 1 core")
    print(f"synthetic as 16-bit PNG: {written_png:.1f} samples/s at {args.size} px on 1 core")


if __name__ == "__main__":
    main()
