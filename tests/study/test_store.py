import numpy as np
import pytest

from study.store import TrainingStore, crop_box, random_crop, read_crop, zscore


def test_a_crop_read_from_the_store_equals_the_source_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65535, (4, 300, 500)).astype(np.uint16)
    store = TrainingStore(tmp_path)
    store.write("1/a.npy", pixels)
    image = store.open("1/a.npy")
    assert isinstance(image, np.memmap)  # crops read only their rows, not the whole file
    assert np.array_equal(read_crop(image, 17, 123, 128), pixels[:, 17:145, 123:251])


def test_a_crop_larger_than_the_image_is_zero_padded(tmp_path):
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


def test_random_crop_is_a_zscored_window(tmp_path):
    pixels = np.random.default_rng(2).integers(0, 4000, (4, 100, 100)).astype(np.uint16)
    crop = random_crop(pixels, 64, np.random.default_rng(3))
    assert crop.shape == (4, 64, 64)
    assert np.allclose(crop.mean(dim=(1, 2)).numpy(), 0, atol=1e-4)


def test_a_write_interrupted_halfway_leaves_neither_a_partial_nor_a_changed_file(tmp_path, monkeypatch):
    store = TrainingStore(tmp_path)
    store.write("1/a.npy", np.zeros((4, 10, 10), np.uint8))

    def fail_halfway(handle, array):
        handle.write(b"\x93NUMPY partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", fail_halfway)
    with pytest.raises(OSError):
        store.write("1/a.npy", np.ones((4, 10, 10), np.uint8))
    monkeypatch.undo()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["a.npy"]
    assert not store.open("1/a.npy").any()


def test_pixels_that_are_not_8_or_16_bit_are_refused(tmp_path):
    with pytest.raises(ValueError, match="uint8 or uint16"):
        TrainingStore(tmp_path).write("1/a.npy", np.zeros((4, 10, 10), np.float32))
