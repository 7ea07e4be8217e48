"""Random 1024x1024 4-channel training crops per second from the sample store.

On one core (one process, one thread):

- a plain copy of the window out of the memory map into one reused buffer (what no reader can beat),
- raw crops as the training loader reads them now (each window copied once into a batch of its ring
  of reused batch buffers; they are z-scored later, where the model runs), and into a new batch each
  time (``CropDataset.__getitems__``: fresh pages, a page fault every 4 KiB),
- crops z-scored on the CPU (``study.store.random_crop``, how every crop was read before),
- the z-scoring of a raw batch by ``zscore_crops`` on this CPU (on a GPU it costs next to nothing),
- and the same crops decoded from uncompressed 16-bit TIFFs per crop (the path the store replaces).

Then through a DataLoader with ``--workers`` worker processes: raw crops into the ring in shared
memory (the training loader), and crops z-scored in the workers and collated into new shared memory
(/dev/shm) as before, whose pages the kernel zeroes on first touch: crops per second that reach the
training process, and per worker.

    python benchmarks/bench_store.py [--images 4] [--size 3072] [--crop 1024] [--crops 200] [--workers 2]
"""

import os

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models_zoo.training.data import (  # noqa: E402
    CropDataset,
    EpochSampler,
    SplitSamples,
    train_loader,
    zscore_crops,
)
from models_zoo.training.crops import crop_box, random_crop, read_crop, zscore  # noqa: E402
from study.store import CHANNELS, SampleStore  # noqa: E402

BATCH = 8


class ZScoredCrops(Dataset):
    """The crops one at a time, z-scored on the CPU, collated by the DataLoader: how batches were read before."""

    def __init__(self, crops: CropDataset):
        self.crops = crops

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, tagged):
        return self.crops[tagged]


def per_second(count: int, action) -> float:
    start = time.perf_counter()
    action()
    return count / (time.perf_counter() - start)


def loader_rate(loader: DataLoader, sampler: EpochSampler, crops: int) -> float:
    """Crops per second out of ``loader`` after its workers have started and read ahead once."""
    sampler.set_epoch(0)
    for _ in loader:  # starts the (persistent) workers
        pass
    done, epoch, start = 0, 0, time.perf_counter()
    while done < crops:
        epoch += 1
        sampler.set_epoch(epoch)
        for batch in loader:
            done += len(batch[0])
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--crop", type=int, default=1024)
    parser.add_argument("--crops", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        store = SampleStore(folder)
        keys = []
        for i in range(args.images):
            pixels = rng.normal(1500, 400, (4, args.size, args.size)).clip(0, 65535).astype(np.uint16)
            store.write(f"{i}.npy", pixels)
            keys.append(f"{i}.npy")
            for channel, plane in zip(CHANNELS, pixels):
                tifffile.imwrite(Path(folder) / f"{i}_{channel}.tif", plane)
        images = [store.open(key) for key in keys]
        n = args.crops

        buffer = np.empty((4, args.crop, args.crop), dtype=np.uint16)

        def plain_copy() -> None:
            for i in range(n):
                top, left = crop_box(args.size, args.size, args.crop, rng)
                np.copyto(buffer, images[i % args.images][:, top : top + args.crop, left : left + args.crop])

        # As many samples as crops, cycling over the images, read in batches as the loader reads them.
        samples = SplitSamples(list(range(n)), [keys[i % args.images] for i in range(n)], np.zeros((n, 13), np.float32))
        dataset = CropDataset(store, samples, args.crop, seed=0)

        inline = train_loader(dataset, EpochSampler(dataset, seed=0), BATCH, workers=0, pin_memory=False)

        def raw_batches() -> None:
            for _ in inline:
                pass

        def fresh_batches() -> None:
            for start in range(0, n, BATCH):
                dataset.__getitems__([(i, 0) for i in range(start, min(n, start + BATCH))])

        def zscored() -> None:
            for i in range(n):
                random_crop(images[i % args.images], args.crop, rng)

        raw_batch = dataset.__getitems__([(i, 0) for i in range(BATCH)])[0].images
        copy_rate = per_second(n, plain_copy)
        raw_batches()  # the ring's pages touched once
        raw_rate = per_second(n // BATCH * BATCH, raw_batches)
        fresh_rate = per_second(n, fresh_batches)
        zscored_rate = per_second(n, zscored)
        normalise_rate = per_second(BATCH * 4, lambda: [zscore_crops(raw_batch) for _ in range(4)])

        tiff_crops = max(4, n // 20)

        def tiffs() -> None:
            for i in range(tiff_crops):
                planes = np.stack([tifffile.imread(Path(folder) / f"{i % args.images}_{c}.tif") for c in CHANNELS])
                top, left = crop_box(args.size, args.size, args.crop, rng)
                zscore(read_crop(planes, top, left, args.crop))

        tiff_rate = per_second(tiff_crops, tiffs)
        crop = f"{args.crop}x{args.crop} 4-channel crops/s from {args.size}x{args.size} 16-bit images"
        print(f"one core, random {crop}:")
        print(f"  plain copy out of the memory map   {copy_rate:7.0f}")
        print(f"  raw, as the loader reads them      {raw_rate:7.0f}  (target >= 500; into its ring of batches)")
        print(f"  raw, into a new batch each time    {fresh_rate:7.0f}  (fresh pages: a fault every 4 KiB)")
        print(f"  z-scored on the CPU (as before)    {zscored_rate:7.0f}  (raw is {raw_rate / zscored_rate:.1f}x)")
        print(f"  z-scoring raw crops on this CPU    {normalise_rate:7.0f}  (zscore_crops, a batch of {BATCH})")
        faster = zscored_rate / tiff_rate
        print(f"  decoding four TIFFs per crop       {tiff_rate:7.1f}  (the store is {faster:.0f}x faster)")

        if args.workers > 0:
            sampler = EpochSampler(dataset, seed=0)
            raw_loader = train_loader(dataset, sampler, BATCH, args.workers, pin_memory=False)
            old_loader = DataLoader(
                ZScoredCrops(dataset), batch_size=BATCH, sampler=sampler, drop_last=True, num_workers=args.workers,
                persistent_workers=True, prefetch_factor=2,
            )
            raw = loader_rate(raw_loader, sampler, 2 * n)
            old = loader_rate(old_loader, sampler, 2 * n)
            workers = f"{args.workers} worker{'s' if args.workers > 1 else ''}"
            print(f"DataLoader, {workers}, batches of {BATCH}, crops/s reaching the training process (and per worker):")
            print(f"  raw                                {raw:7.0f}  ({raw / args.workers:.0f})")
            print(f"  z-scored on the CPU (as before)    {old:7.0f}  ({old / args.workers:.0f})")
            print(f"  ({os.cpu_count()} cores here; a worker per core at most)")


if __name__ == "__main__":
    main()
