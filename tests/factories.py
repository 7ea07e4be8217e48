"""Small data sets written and stored for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from study.models import Dataset, ReferenceLabel, Sample
from study.store import CHANNELS


def channel_pixels(seed: int, shape=(48, 64), dtype=np.uint16) -> np.ndarray:
    high = 4000 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, high, size=(4, *shape)).astype(dtype)


def write_channels(folder: Path, sample_id: str, pixels: np.ndarray, suffix: str = ".tif") -> dict[str, Path]:
    """Write a (4, H, W) array as the four channel files of one sample."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for channel, plane in zip(CHANNELS, pixels):
        path = folder / f"{sample_id}_{channel}{suffix}"
        if suffix in (".tif", ".tiff"):
            tifffile.imwrite(path, plane)
        else:
            Image.fromarray(plane).save(path)
        paths[channel] = path
    return paths


def write_labels(folder: Path, labels: dict[str, list[int]], name: str = "labels.csv") -> Path:
    path = folder / name
    lines = ["Id,Target"] + [f"{sample_id},{' '.join(map(str, classes))}" for sample_id, classes in labels.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_dataset(name: str, classes_per_sample: list[list[int]], label_set_key: str = "cyto13") -> Dataset:
    """A data set of sample rows with reference labels and no pixels (for splits and studies)."""
    dataset = Dataset.objects.create(name=name, label_set_key=label_set_key)
    for i, classes in enumerate(classes_per_sample):
        sample = Sample.objects.create(
            dataset=dataset, source_id=f"s{i:05d}", height=64, width=64, bit_depth=16, store_key=f"{name}/{i}.npy"
        )
        ReferenceLabel.objects.bulk_create(ReferenceLabel(sample=sample, class_index=c) for c in classes)
    return dataset
