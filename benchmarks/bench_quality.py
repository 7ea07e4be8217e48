"""Quality control (study.quality.assess_sample): false alarms on clean fields and detection of
spoiled ones, by size, cell density and bit depth; then its speed.

Every field is rendered by the synthetic generator (its protein in a location drawn as the
generator's data sets draw them), at 64 to 2048 pixels, 8- and 16-bit, with 4, 9 or 16 cells per
512 x 512 pixels. Each clean field is assessed, then six spoiled copies (one channel each, the
channel cycling through the four): shifted by 4 and by 8 pixels, by a tenth of the field (at least
32 pixels), blank (camera noise only), saturated (5% of the pixels at the top) and blurred (a
Gaussian of 2 pixels). A row prints, per size, bit depth and density:

- false alarms: clean fields with any flag, with the 95% upper bound of the rate (Clopper-Pearson);
- judged: the share of clean fields on which registration, and the blank check, did not abstain;
- detected: the spoiled copies flagged with the right check on the right channel; (a N): how many
  of the missed ones the check abstained on, having too little to judge.

    python benchmarks/bench_quality.py [--scale 1.0] [--sizes 64 128 ...] [--clean-only]
"""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.stats import beta  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from study.labels import CYTO13  # noqa: E402
from study.quality import CHANNELS, assess_sample  # noqa: E402
from synthetic import draw_locations, render_sample  # noqa: E402
from synthetic.image_faults import blank, blurred, saturated, shifted  # noqa: E402

REAL_FIELD = ROOT / "fixtures" / "real-hpa" / "57_F11_1"
SIZES = (64, 128, 256, 512, 1024, 2048)
DENSITIES = (4, 9, 16)
FIELDS = {64: 50, 128: 40, 256: 30, 512: 20, 1024: 10, 2048: 6}  # per size, bit depth and density
FAULTS = ("shift 4", "shift 8", "shift far", "blank", "saturated", "blurred")


def spoiled(image: np.ndarray, fault: str, channel: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A copy of the field with ``fault`` in ``channel``, and the check that should flag it."""
    side = max(image.shape[1:])
    far = max(32, side // 10)
    if fault == "shift 4":
        return shifted(image, channel, 4, -1), "misregistered"
    if fault == "shift 8":
        return shifted(image, channel, -6, 5), "misregistered"
    if fault == "shift far":
        return shifted(image, channel, far, -far // 2), "misregistered"
    if fault == "blank":
        return blank(image, channel, rng), "blank"
    if fault == "saturated":
        return saturated(image, channel, 0.05), "saturated"
    return blurred(image, channel, 2.0), "out_of_focus"


def upper_bound(failures: int, trials: int) -> float:
    """The one-sided 95% upper confidence bound of a rate (Clopper-Pearson)."""
    return 1.0 if failures >= trials else float(beta.ppf(0.95, failures + 1, trials - failures))


def rates(size: int, eight_bit: bool, density: int, fields: int, spoil: bool) -> dict:
    counts = Counter()
    for number in range(fields):
        rng = np.random.default_rng(np.random.SeedSequence([size, int(eight_bit), density, number]))
        locations = draw_locations(rng, CYTO13)
        image = render_sample(int(rng.integers(2**62)), size, locations, eight_bit=eight_bit, density=density)
        quality = assess_sample(image)
        counts["fields"] += 1
        counts["false alarms"] += bool(quality.flags)
        abstained = {check for _, check in ((a.channel, a.check) for a in quality.abstentions)}
        counts["registration judged"] += "misregistered" not in abstained
        counts["blank judged"] += "blank" not in abstained
        channel = CHANNELS[number % len(CHANNELS)]
        for fault in FAULTS if spoil else ():
            copy, check = spoiled(image, fault, channel, rng)
            result = assess_sample(copy)
            if check in result.flagged(channel):
                counts[fault] += 1
            elif check in result.abstained(channel):
                counts[fault + " abstained"] += 1
    return counts


def table(sizes: list[int], scale: float, spoil: bool) -> None:
    print("quality control on synthetic fields: false alarms (clean fields flagged, 95% upper bound) and detection")
    print(f"{'size':>5} {'bits':>4} {'cells':>5} {'fields':>6}  {'false alarms':>17}  {'judged reg/blank':>16}  "
          + "  ".join(f"{fault:>13}" for fault in FAULTS))
    for size in sizes:
        total = Counter()
        for eight_bit in (False, True):
            for density in DENSITIES:
                fields = max(2, round(FIELDS.get(size, 10) * scale))
                counts = rates(size, eight_bit, density, fields, spoil)
                total.update(counts)
                print(row(f"{size:>5} {8 if eight_bit else 16:>4} {density:>5}", counts))
        print(row(f"{size:>5} {'all':>4} {'all':>5}", total))


def row(label: str, counts: Counter) -> str:
    n = counts["fields"]
    alarms = counts["false alarms"]
    judged = f"{counts['registration judged'] / n:.0%}/{counts['blank judged'] / n:.0%}"
    detected = []
    for fault in FAULTS:
        cell = f"{counts[fault]}/{n}"
        if counts[fault + " abstained"]:
            cell += f" (a {counts[fault + ' abstained']})"
        detected.append(f"{cell:>13}")
    return (
        f"{label} {n:>6}  {alarms:>3}/{n:<3} (< {upper_bound(alarms, n):4.1%})  {judged:>16}  " + "  ".join(detected)
    )


def timings(pixels: np.ndarray, repeats: int) -> list[float]:
    assess_sample(pixels)  # warm-up: imports, FFT plans
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        assess_sample(pixels)
        seconds.append(time.perf_counter() - start)
    return seconds


def speed(repeats: int) -> None:
    for side in (2048, 3072):
        pixels = render_sample(7, side, [CYTO13.by_name("Cytosol").index], density=9)
        report(f"a {side}x{side} 16-bit field", timings(pixels, repeats))
    real = np.stack([np.asarray(Image.open(REAL_FIELD / f"57_F11_1_{name}.png")) for name in CHANNELS])
    report(f"the real {real.shape[1]}x{real.shape[2]} 8-bit field", timings(real, repeats))


def report(name: str, seconds: list[float]) -> None:
    median, best = statistics.median(seconds), min(seconds)
    print(f"quality: {1 / median:.1f} samples/s ({median:.3f} s median, {best:.3f} s best) for {name}, 1 core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fields per row, as a multiple of the default")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clean-only", action="store_true", help="false alarms only: no spoiled copies, no speed")
    args = parser.parse_args()
    table(args.sizes, args.scale, spoil=not args.clean_only)
    if not args.clean_only:
        speed(args.repeats)


if __name__ == "__main__":
    main()
