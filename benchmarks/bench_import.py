"""Importing fields of the paper's size: the pipeline's stages, samples per second against raw
decoding, memory, disk, and the paper's data set on a 16-core machine.

A data set of realistic fields is written first: synthetic 1024 px fields scaled up to 2048 and
3072 px with sensor noise added, as deflate-compressed 16-bit TIFF (as many microscopes write them),
a quarter of the channels colour-encoded (RGB with the signal in one component). Then it prints:

- the raw decode rate of the same files with tifffile alone, one core (the floor an import cannot beat);
- each stage of the import on its own, per sample and as a share of a decoding worker's time: read
  (decode and check the channel files, straight into the store's staged file in the page cache)
  and quality control; and beside the workers, the flush to disk (a thread) and the record in the
  database (this thread);
- ``import_dataset`` samples per second with 1 and 2 worker processes, with and without quality
  control, as a multiple of the raw decode per worker (target 0.8);
- the paper's 18,756 fields (its sizes 1728, 2048 and 3072 px; the mix is not published, so a third
  of each) extrapolated to a 16-core machine: 15 decoding workers and the thread that records, each
  stage scaled by pixels from the 2048 and 3072 px timings, with the disk's flush rate as the third
  bound (target under 1 hour), and the store's size;
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
CORES = 16
CROP = 1024
STAGES = ("read", "quality")  # a worker's share; "flush" and "record" run beside the workers


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


def raw_decode_seconds(folder: Path, sample_ids: list[str]) -> dict[str, float]:
    """Seconds per sample of tifffile alone, by sample."""
    seconds = {}
    for sample_id in sample_ids:
        start = time.perf_counter()
        for channel in CHANNELS:
            tifffile.imread(folder / f"{sample_id}_{channel}.tif")
        seconds[sample_id] = time.perf_counter() - start
    return seconds


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

    from study.importer import run_import
    from study.labelfiles import read_label_file
    from study.models import Dataset
    from study.quality import QualityThresholds
    from study.sample_files import discover
    from study.store import sample_store

    with temporary_site.migrated():
        label_file = read_label_file(folder / "labels.txt")
        if limit is not None:
            kept = sorted(source.sample_id for source in discover(folder, "channels"))[:limit]
            label_file = dataclasses.replace(label_file, labels={k: label_file.labels[k] for k in kept})
        dataset = Dataset.objects.create(name="bench", label_set_key="cyto13")
        thresholds = QualityThresholds() if quality else None
        start = time.perf_counter()
        summary = run_import(
            folder, dataset, label_file, sample_store(), "channels", workers=workers, thresholds=thresholds
        )
        seconds = time.perf_counter() - start
        stored = sum(path.stat().st_size for path in Path(settings.STORE_DIR).rglob("*.npy"))
        peak = sum(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        print(json.dumps({
            "imported": summary.imported, "seconds": seconds, "store_bytes": stored, "peak_kib": peak,
        }))


def child_stages(folder: Path) -> None:
    """In a fresh process: each stage of the import on its own, seconds per sample, by sample."""
    import temporary_site  # noqa: F401

    from study.importer import FLUSH_SAMPLES, Converted, ImportSummary, record_batch, store_key
    from study.labelfiles import read_label_file
    from study.models import Dataset
    from study.quality import assess_sample
    from study.sample_files import discover, read_sample
    from study.store import sample_store

    with temporary_site.migrated():
        label_file = read_label_file(folder / "labels.txt")
        dataset = Dataset.objects.create(name="stages", label_set_key="cyto13")
        store = sample_store()
        timings, converted = {}, []
        for source in sorted(discover(folder, "channels"), key=lambda s: s.sample_id):
            times = {}
            key = store_key(dataset, source.sample_id)
            start = time.perf_counter()
            pixels = read_sample(source, 10**9, CHANNELS, lambda shape, dtype: store.create_staged(key, shape, dtype))
            times["read"] = time.perf_counter() - start
            start = time.perf_counter()
            assess_sample(pixels)
            times["quality"] = time.perf_counter() - start
            timings[source.sample_id] = times
            converted.append(Converted(source.sample_id, pixels.shape[1], pixels.shape[2], 16))
        flush = record = 0.0
        summary = ImportSummary(dataset)
        for first in range(0, len(converted), FLUSH_SAMPLES):
            batch = converted[first : first + FLUSH_SAMPLES]
            start = time.perf_counter()
            store.make_durable([store_key(dataset, result.sample_id) for result in batch])
            flush += time.perf_counter() - start
            start = time.perf_counter()
            record_batch(dataset, label_file, batch, summary)
            record += time.perf_counter() - start
        print(json.dumps({
            "timings": timings, "flush_seconds": flush, "record_seconds": record,
            "bytes": sum(result.nbytes for result in converted), "samples": len(converted),
        }))


def fit_by_pixels(values: dict[int, float]) -> callable:
    """A line through (pixels, value) of the two sizes measured, to scale a stage to other sizes."""
    (side_a, a), (side_b, b) = sorted(values.items())
    slope = (b - a) / (side_b**2 - side_a**2)
    return lambda side: max(a + slope * (side**2 - side_a**2), 0.0)


def stage_report(stages: dict, sizes: dict[str, int], raw: dict[str, float]) -> None:
    timings = stages["timings"]
    per_size = {
        side: {stage: float(np.mean([timings[s][stage] for s in timings if sizes[s] == side])) for stage in STAGES}
        for side in sorted(set(sizes.values()))
    }
    raw_by_size = {side: float(np.mean([raw[s] for s in raw if sizes[s] == side])) for side in per_size}
    print("stages, 1 core, seconds per sample (share of a decoding worker's time):")
    for side, stage_seconds in per_size.items():
        worker = sum(stage_seconds.values())
        shares = ", ".join(f"{stage} {value:.3f} s ({value / worker:.0%})" for stage, value in stage_seconds.items())
        print(f"  {side} px: {shares}; raw decode {raw_by_size[side]:.3f} s; the worker at "
              f"{raw_by_size[side] / worker:.2f}x raw decode")
    samples = stages["samples"]
    flush_rate = stages["bytes"] / stages["flush_seconds"]
    record = stages["record_seconds"] / samples
    print(f"  beside the workers: flush {stages['flush_seconds'] / samples:.3f} s per sample "
          f"({flush_rate / 2**20:.0f} MiB/s to disk, a thread), record {record * 1000:.1f} ms per sample (this thread)")

    worker_at = {stage: fit_by_pixels({side: v[stage] for side, v in per_size.items()}) for stage in STAGES}
    worker = np.mean([sum(worker_at[stage](side) for stage in STAGES) for side in PAPER_SIZES])
    bytes_per_sample = np.mean([len(CHANNELS) * 2 * side * side for side in PAPER_SIZES])
    bounds = {
        f"{CORES - 1} decoding workers": (CORES - 1) / worker,
        "recording in one thread": 1 / record,
        "flushing to this machine's disk": flush_rate / bytes_per_sample,
    }
    binding = min(bounds, key=bounds.get)
    hours = PAPER_FIELDS / bounds[binding] / 3600
    print(f"the paper's {PAPER_FIELDS:,} fields (a third each of {', '.join(map(str, PAPER_SIZES))} px, 16-bit) on a "
          f"{CORES}-core machine: about {hours:.2f} h (target < 1 h), bound by {binding}; "
          + ", ".join(f"{name} {rate:.1f} samples/s" for name, rate in bounds.items())
          + f"; {PAPER_FIELDS * bytes_per_sample / 2**30:.0f} GiB of store")


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--child", nargs=4, metavar=("FOLDER", "WORKERS", "QUALITY", "LIMIT"), help=argparse.SUPPRESS)
    parser.add_argument("--stages", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, workers, quality, limit = args.child
        child_import(Path(folder), int(workers), quality == "1", None if limit == "all" else int(limit))
        return
    if args.stages:
        child_stages(Path(args.stages))
        return

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "fields"
        sizes = write_fields(folder, args.samples)
        print(f"{args.samples} fields of 2048 and 3072 px, deflate 16-bit TIFF, a quarter of the channels "
              f"colour-encoded; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        raw = raw_decode_seconds(folder, sorted(sizes))
        raw_rate = len(raw) / sum(raw.values())
        print(f"raw decode with tifffile, 1 core: {raw_rate:.2f} samples/s")
        stage_report(run_child(["--stages", str(folder)]), sizes, raw)
        for workers in (1, 2):
            for quality in (True, False):
                result = run_child(["--child", str(folder), str(workers), "1" if quality else "0", "all"])
                rate = result["imported"] / result["seconds"]
                print(
                    f"import, {workers} worker{'s' if workers > 1 else ''}, quality control "
                    f"{'on ' if quality else 'off'}: {rate:.2f} samples/s ({rate / workers / raw_rate:.2f}x raw decode "
                    f"per worker; target 0.8x)"
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
