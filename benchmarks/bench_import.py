"""Importing fields of the paper's size: samples per second, memory, disk, and the paper's data set.

A data set of realistic fields is written first: synthetic 1024 px fields scaled up to 2048 and
3072 px with sensor noise added, as deflate-compressed 16-bit TIFF (as many microscopes write them),
a quarter of the channels colour-encoded (RGB with the signal in one component). Then it prints:

- the raw decode rate of the same files with tifffile alone, one core (the floor an import cannot beat);
- ``import_dataset`` samples per second with 1 and 2 worker processes, with quality control (the
  default) and without it (``--qc`` costs per sample), against 0.8 x the raw decode per worker;
- store bytes per sample, and the time and disk extrapolated to the paper's 18,756 fields (its sizes
  1728, 2048 and 3072 px; the mix is not published, so a third of each is assumed);
- the peak memory of imports of N and 4 N samples in fresh processes (flat means bounded);
- random 1024 px crops per second and disk from the store's memory-mapped ``.npy`` against a chunked,
  losslessly compressed layout (blosc2, LZ4 with bit-shuffle), whose target was 300 crops/s per core.

    python benchmarks/bench_import.py [--samples 16]
"""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import tifffile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from study.store import CHANNELS  # noqa: E402
from synthetic import render_sample  # noqa: E402

PAPER_FIELDS = 18_756
PAPER_SIZES = (1728, 2048, 3072)
CROP = 1024


def write_fields(folder: Path, samples: int) -> dict[str, int]:
    """``samples`` fields alternating 2048 and 3072 px; the pixels of two renders, the files all distinct."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    bases = [render_sample(seed, 1024, [seed % 13]) for seed in range(2)]
    sizes = {}
    for number in range(samples):
        factor = 2 if number % 2 == 0 else 3
        field = np.kron(bases[number % 2], np.ones((1, factor, factor), np.uint16))
        field = field + rng.integers(0, 64, field.shape, dtype=np.uint16)
        sample_id = f"f{number:04d}"
        for index, (channel, plane) in enumerate(zip(CHANNELS, field)):
            path = folder / f"{sample_id}_{channel}.tif"
            if (number + index) % 4 == 0:
                rgb = np.zeros((*plane.shape, 3), np.uint16)
                rgb[..., 1] = plane
                tifffile.imwrite(path, rgb, photometric="rgb", compression="zlib")
            else:
                tifffile.imwrite(path, plane, compression="zlib")
        sizes[sample_id] = field.shape[1]
    (folder / "labels.txt").write_text("".join(f"{sample_id}, Nucleus\n" for sample_id in sizes))
    return sizes


def raw_decode_rate(folder: Path, sample_ids: list[str]) -> float:
    start = time.perf_counter()
    for sample_id in sample_ids:
        for channel in CHANNELS:
            tifffile.imread(folder / f"{sample_id}_{channel}.tif")
    return len(sample_ids) / (time.perf_counter() - start)


def run_child(arguments: list[str]) -> dict:
    """Run this script in a fresh process (a fresh site and memory high-water mark) and read its JSON line."""
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_import(folder: Path, workers: int, quality: bool, limit: int | None) -> None:
    """In a fresh process: import ``folder`` (its first ``limit`` samples) and print what it took."""
    import temporary_site  # noqa: F401  (a throw-away site for this process)
    from django.conf import settings

    from study.importer import discover, run_import
    from study.labelfiles import read_label_file
    from study.models import Dataset
    from study.quality import QualityThresholds
    from study.store import sample_store

    with temporary_site.migrated():
        label_file = read_label_file(folder / "labels.txt")
        if limit is not None:
            kept = sorted(source.sample_id for source in discover(folder, "channels"))[:limit]
            label_file = dataclasses.replace(label_file, labels={k: label_file.labels[k] for k in kept})
        dataset = Dataset.objects.create(name="bench", label_set_key="cyto13")
        store = sample_store()
        thresholds = QualityThresholds() if quality else None
        start = time.perf_counter()
        summary = run_import(folder, dataset, label_file, store, "channels", workers=workers, thresholds=thresholds)
        seconds = time.perf_counter() - start
        stored = sum(path.stat().st_size for path in Path(settings.STORE_DIR).rglob("*.npy"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps({
            "imported": summary.imported, "seconds": seconds, "store_bytes": stored, "peak_kib": peak,
        }))


def compressed_store(folder: Path) -> None:
    """Crops per second and disk: the store's .npy against blosc2 chunks, on one 3072 px field."""
    try:
        import blosc2
    except ImportError:
        print("compressed store: blosc2 is not installed (pip install '.[bench]'); skipped")
        return
    planes = [tifffile.imread(folder / f"f0001_{channel}.tif") for channel in CHANNELS]
    field = np.stack([plane.max(axis=-1) if plane.ndim == 3 else plane for plane in planes])
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as scratch:
        npy = Path(scratch) / "field.npy"
        np.save(npy, field)
        packed = Path(scratch) / "field.b2nd"
        cparams = {"codec": blosc2.Codec.LZ4, "clevel": 5, "filters": [blosc2.Filter.BITSHUFFLE], "nthreads": 1}
        blosc2.asarray(field, chunks=(4, 256, 256), blocks=(4, 64, 64), urlpath=str(packed), mode="w", cparams=cparams)
        rates = {}
        for name, array in (
            ("npy (memory map)", np.load(npy, mmap_mode="r")),
            ("blosc2 LZ4 bit-shuffle, 256 px chunks", blosc2.open(str(packed), dparams={"nthreads": 1})),
        ):
            start, crops = time.perf_counter(), 0
            while time.perf_counter() - start < 3:
                top, left = rng.integers(0, field.shape[1] - CROP, 2)
                np.array(array[:, top:top + CROP, left:left + CROP])  # a copy: a memory map's slice reads nothing
                crops += 1
            rates[name] = crops / (time.perf_counter() - start)
        ratio = npy.stat().st_size / packed.stat().st_size
    for name, rate in rates.items():
        print(f"  {name}: {rate:.0f} random {CROP} px crops/s, 1 core")
    print(f"  the compressed layout is {ratio:.2f}x smaller on disk (synthetic fields with sensor noise); "
          f"it is {'adopted' if min(rates.values()) >= 300 else 'not adopted: under 300 crops/s per core'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--child", nargs=4, metavar=("FOLDER", "WORKERS", "QUALITY", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, workers, quality, limit = args.child
        child_import(Path(folder), int(workers), quality == "1", None if limit == "all" else int(limit))
        return

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "fields"
        sizes = write_fields(folder, args.samples)
        raw = raw_decode_rate(folder, sorted(sizes))
        print(f"{args.samples} fields of 2048 and 3072 px, deflate 16-bit TIFF, a quarter of the channels colour-encoded")
        print(f"raw decode with tifffile, 1 core: {raw:.2f} samples/s")
        results = {}
        for workers in (1, 2):
            for quality in (True, False):
                result = run_child(["--child", str(folder), str(workers), "1" if quality else "0", "all"])
                rate = result["imported"] / result["seconds"]
                results[(workers, quality)] = result
                print(
                    f"import, {workers} worker{'s' if workers > 1 else ''}, quality control "
                    f"{'on ' if quality else 'off'}: {rate:.2f} samples/s ({rate / workers / raw:.2f}x raw decode "
                    f"per worker; target 0.8x)"
                )
        per_sample = results[(1, True)]["store_bytes"] / args.samples
        mean_side = np.mean(list(sizes.values()))
        paper_pixels = np.mean([side * side for side in PAPER_SIZES])
        scale = paper_pixels / np.mean([side * side for side in sizes.values()])
        seconds_per_sample = results[(2, True)]["seconds"] / args.samples * scale
        print(f"store: {per_sample / 2**20:.1f} MiB per sample of mean side {mean_side:.0f} px (16-bit, uncompressed)")
        print(
            f"the paper's {PAPER_FIELDS:,} fields (a third each of {', '.join(map(str, PAPER_SIZES))} px, 16-bit): "
            f"about {PAPER_FIELDS * seconds_per_sample / 3600:.1f} h with 2 workers and quality control, "
            f"{PAPER_FIELDS * per_sample * scale / 2**30:.0f} GiB of store"
        )
        small = max(2, args.samples // 4)
        few = run_child(["--child", str(folder), "1", "1", str(small)])
        many = run_child(["--child", str(folder), "1", "1", "all"])
        print(
            f"peak memory, 1 worker: {few['peak_kib'] / 1024:.0f} MiB importing {small} samples, "
            f"{many['peak_kib'] / 1024:.0f} MiB importing {args.samples}"
        )
        compressed_store(folder)


if __name__ == "__main__":
    main()
