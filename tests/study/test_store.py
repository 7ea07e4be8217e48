"""The sample store: arrays written whole or not at all, read back as memory maps, from one place."""

import numpy as np
import pytest

from study.store import SampleStore, sample_store


def test_an_array_written_is_read_back_as_a_memory_map(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 65535, (4, 30, 50)).astype(np.uint16)
    store = SampleStore(tmp_path)
    store.write("1/a.npy", pixels)
    image = store.open("1/a.npy")
    assert isinstance(image, np.memmap)  # a crop reads only its rows, not the whole file
    assert np.array_equal(image, pixels)


def test_a_write_interrupted_halfway_leaves_neither_a_partial_nor_a_changed_file(tmp_path, monkeypatch):
    store = SampleStore(tmp_path)
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
        SampleStore(tmp_path).write("1/a.npy", np.zeros((4, 10, 10), np.float32))


def test_an_array_of_another_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\(4, H, W\)"):
        SampleStore(tmp_path).stage("1/a.npy", np.zeros((3, 10, 10), np.uint8))


def test_a_staged_array_is_invisible_under_its_key_until_made_durable(tmp_path):
    store = SampleStore(tmp_path)
    pixels = np.full((4, 8, 8), 9, np.uint16)
    store.stage("1/a.npy", pixels)
    assert not store.path("1/a.npy").exists()
    store.make_durable(["1/a.npy"])
    assert np.array_equal(store.open("1/a.npy"), pixels)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["a.npy"]


def test_discarding_a_staged_array_leaves_nothing(tmp_path):
    store = SampleStore(tmp_path)
    store.stage("1/a.npy", np.zeros((4, 8, 8), np.uint8))
    store.discard_staged(["1/a.npy"])
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_the_sites_store_lies_under_the_store_setting(settings, tmp_path):
    settings.STORE_DIR = tmp_path / "elsewhere"
    assert sample_store().root == tmp_path / "elsewhere"
