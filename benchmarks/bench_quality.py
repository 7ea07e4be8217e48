"""Quality control at import (study.quality.assess_sample) per second, on one core: a 2048x2048
16-bit synthetic sample and the real 1728x1728 8-bit HPA field (tests/data/real-hpa)."""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from study.labels import CYTO13  # noqa: E402
from study.quality import CHANNELS, assess_sample  # noqa: E402
from synthetic import render_sample  # noqa: E402

REAL_FIELD = ROOT / "tests" / "data" / "real-hpa" / "57_F11_1"


def timings(pixels: np.ndarray, repeats: int) -> list[float]:
    assess_sample(pixels)  # warm-up: imports, FFT plans
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        assess_sample(pixels)
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name: str, seconds: list[float], target: float | None) -> None:
    median, best = statistics.median(seconds), min(seconds)
    line = f"quality: {1 / median:.1f} samples/s ({median:.3f} s median, {best:.3f} s best) for {name}, 1 core"
    print(line + (f" (target < {target} s)" if target else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    sixteen = render_sample(7, 2048, [CYTO13.by_name("Cytosol").index])
    report("a 2048x2048 16-bit sample", timings(sixteen, args.repeats), 0.3)
    real = np.stack([np.asarray(Image.open(REAL_FIELD / f"57_F11_1_{name}.png")) for name in CHANNELS])
    report(f"the real {real.shape[1]}x{real.shape[2]} 8-bit field", timings(real, args.repeats), None)


if __name__ == "__main__":
    main()
