"""Crops of the store's arrays and their z-scoring: the windows a model is trained on."""

import numpy as np
import pytest

from models_zoo.training.crops import crop_box, random_crop, read_crop, zscore
from study.store import SampleStore


def test_a_crop_read_from_the_store_equals_the_source_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65535, (4, 300, 500)).astype(np.uint16)
    store = SampleStore(tmp_path)
    store.write("1/a.npy", pixels)
    image = store.open("1/a.npy")
    assert isinstance(image, np.memmap)  # crops read only their rows, not the whole file
    assert np.array_equal(read_crop(image, 17, 123, 128), pixels[:, 17:145, 123:251])


def test_a_crop_larger_than_the_image_is_zero_padded():
    pixels = np.ones((4, 30, 40), np.uint8)
    crop = read_crop(pixels, 0, 0, 64)
    assert crop.shape == (4, 64, 64) and crop[:, :30, :40].all() and not crop[:, 30:].any()


def test_random_crops_stay_inside_the_image():
    rng = np.random.default_rng(0)
    boxes = [crop_box(300, 1000, 256, rng) for _ in range(200)]
    assert all(0 <= top <= 44 and 0 <= left <= 744 for top, left in boxes)
    assert len(set(boxes)) > 100


@pytest.mark.parametrize("dtype, offset", [(np.uint8, 0), (np.uint16, 40000)])
def test_zscore_gives_each_channel_zero_mean_and_unit_variance(dtype, offset):
    pixels = (np.random.default_rng(1).normal(offset + 100, 9, (4, 70, 90))).clip(0, None).astype(dtype)
    pixels[3] = 7  # a constant channel
    result = zscore(pixels).numpy()
    reference = (pixels - pixels.mean(axis=(1, 2), keepdims=True)) / np.maximum(pixels.std(axis=(1, 2), keepdims=True), 1e-6)
    assert np.allclose(result, reference, atol=1e-4)
    assert not result[3].any()


def test_random_crop_is_a_zscored_window():
    pixels = np.random.default_rng(2).integers(0, 4000, (4, 100, 100)).astype(np.uint16)
    crop = random_crop(pixels, 64, np.random.default_rng(3))
    assert crop.shape == (4, 64, 64)
    assert np.allclose(crop.mean(dim=(1, 2)).numpy(), 0, atol=1e-4)
