import numpy as np
import pytest
import tifffile
from PIL import Image

from study.imaging import ChannelError, read_channel


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_greyscale_tiffs_keep_their_bit_depth_and_values(tmp_path, dtype):
    pixels = np.arange(30 * 50, dtype=dtype).reshape(30, 50)
    tifffile.imwrite(tmp_path / "a_green.tif", pixels)
    result = read_channel(tmp_path / "a_green.tif")
    assert result.dtype == dtype and np.array_equal(result, pixels)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_greyscale_pngs_keep_their_bit_depth_and_values(tmp_path, dtype):
    pixels = (np.arange(30 * 50).reshape(30, 50) * (1 if dtype == np.uint8 else 40)).astype(dtype)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    result = read_channel(tmp_path / "a.png")
    assert result.dtype == dtype and np.array_equal(result, pixels)


def test_a_colour_encoded_png_becomes_the_intensity_of_its_coloured_component(tmp_path):
    signal = np.random.default_rng(0).integers(0, 256, (20, 30)).astype(np.uint8)
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 1] = signal
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert np.array_equal(read_channel(tmp_path / "a.png"), signal)


def test_a_16_bit_colour_tiff_keeps_its_full_range(tmp_path):
    signal = np.random.default_rng(1).integers(0, 65536, (20, 30)).astype(np.uint16)
    rgb = np.zeros((20, 30, 3), np.uint16)
    rgb[..., 0] = signal
    tifffile.imwrite(tmp_path / "a.tif", rgb, photometric="rgb")
    assert np.array_equal(read_channel(tmp_path / "a.tif"), signal)


def test_a_planar_colour_tiff_is_reduced_too(tmp_path):
    signal = np.random.default_rng(2).integers(0, 4000, (20, 30)).astype(np.uint16)
    planar = np.zeros((3, 20, 30), np.uint16)
    planar[2] = signal
    tifffile.imwrite(tmp_path / "a.tif", planar, photometric="rgb", planarconfig="separate")
    assert np.array_equal(read_channel(tmp_path / "a.tif"), signal)


@pytest.mark.parametrize("name", ["a.tif", "a.png"])
def test_a_truncated_file_is_unreadable(tmp_path, name):
    pixels = np.random.default_rng(3).integers(0, 255, (64, 64)).astype(np.uint8)
    path = tmp_path / name
    if name.endswith(".tif"):
        tifffile.imwrite(path, pixels)
    else:
        Image.fromarray(pixels).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ChannelError) as raised:
        read_channel(path)
    assert raised.value.reason == "unreadable" and name in raised.value.detail


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", np.zeros((100, 100), np.uint8))
    with pytest.raises(ChannelError) as raised:
        read_channel(tmp_path / "big.tif", max_pixels=9999)
    assert raised.value.reason == "too large" and "100x100" in raised.value.detail


def test_float_pixels_are_refused_with_their_type(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((10, 10), np.float32))
    with pytest.raises(ChannelError, match="float32"):
        read_channel(tmp_path / "f.tif")
