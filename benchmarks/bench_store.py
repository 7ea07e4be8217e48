"""Random 1024x1024 4-channel crops per second from the training store, z-scored, on one core,
beside the same crops decoded from uncompressed 16-bit TIFFs per crop (the path the store replaces)."""

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from study.store import CHANNELS, TrainingStore, crop_box, random_crop, read_crop, zscore  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--size", type=int, default=3072)
    parser.add_argument("--crop", type=int, default=1024)
    parser.add_argument("--crops", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        store = TrainingStore(folder)
        for i in range(args.images):
            pixels = rng.normal(1500, 400, (4, args.size, args.size)).clip(0, 65535).astype(np.uint16)
            store.write(f"{i}.npy", pixels)
            for channel, plane in zip(CHANNELS, pixels):
                tifffile.imwrite(Path(folder) / f"{i}_{channel}.tif", plane)
        images = [store.open(f"{i}.npy") for i in range(args.images)]

        start = time.perf_counter()
        for n in range(args.crops):
            random_crop(images[n % args.images], args.crop, rng)
        store_rate = args.crops / (time.perf_counter() - start)

        tiff_crops = max(4, args.crops // 20)
        start = time.perf_counter()
        for n in range(tiff_crops):
            planes = np.stack([tifffile.imread(Path(folder) / f"{n % args.images}_{c}.tif") for c in CHANNELS])
            top, left = crop_box(args.size, args.size, args.crop, rng)
            zscore(read_crop(planes, top, left, args.crop))
        tiff_rate = tiff_crops / (time.perf_counter() - start)

    print(
        f"store: {store_rate:.0f} random {args.crop}x{args.crop} 4-channel crops/s from {args.size}x{args.size} "
        f"16-bit images, z-scored, 1 core (target >= 300)"
    )
    print(f"store: {tiff_rate:.1f} crops/s decoding the four TIFFs per crop; the store is {store_rate / tiff_rate:.0f}x faster (target >= 10x)")


if __name__ == "__main__":
    main()
