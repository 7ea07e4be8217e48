"""render_panels: the four panels of the paper's Figure 9, each channel stretched between its percentiles."""

import numpy as np
import pytest

from annotator.panel_composition import PANELS, channel_limits, render_panels
from study.store import CHANNELS

FULL_RANGE = {channel: [0, 100] for channel in CHANNELS}


def distinct_channels(shape=(40, 50)) -> np.ndarray:
    """Four channels whose pixels are told apart by value: red holds 0..999, green 1000.., and so on."""
    rng = np.random.default_rng(7)
    return np.stack([rng.integers(1000 * i, 1000 * i + 1000, size=shape) for i in range(4)]).astype(np.uint16)


def test_it_renders_the_four_panels_as_rgb_images_of_the_samples_size():
    panels = render_panels(distinct_channels(), FULL_RANGE)
    assert tuple(panels) == PANELS
    for rgb in panels.values():
        assert rgb.shape == (40, 50, 3) and rgb.dtype == np.uint8


def test_the_protein_panel_shows_the_protein_alone_in_green():
    pixels = distinct_channels()
    protein = render_panels(pixels, FULL_RANGE)["protein"]
    assert not protein[..., 0].any() and not protein[..., 2].any()
    assert np.corrcoef(protein[..., 1].ravel(), pixels[1].ravel())[0, 1] > 0.999


@pytest.mark.parametrize("panel, channel", [("nucleus", 2), ("microtubules", 0), ("er", 3)])
def test_each_reference_panel_carries_its_channel_in_red_under_the_protein_in_green(panel, channel):
    pixels = distinct_channels()
    rgb = render_panels(pixels, FULL_RANGE)[panel]
    assert np.corrcoef(rgb[..., 0].ravel(), pixels[channel].ravel())[0, 1] > 0.999
    assert np.corrcoef(rgb[..., 1].ravel(), pixels[1].ravel())[0, 1] > 0.999
    assert not rgb[..., 2].any()


def test_each_channel_is_stretched_linearly_between_its_own_percentiles():
    ramp = np.arange(101, dtype=np.uint16) * 10  # 0, 10, ..., 1000: percentile p is the value 10 p
    pixels = np.stack([ramp, ramp + 5000, ramp, ramp])[:, None, :]
    percentiles = {"red": [0, 100], "green": [10, 60], "blue": [0, 100], "yellow": [0, 100]}
    green = render_panels(pixels, percentiles)["protein"][0, :, 1].astype(int)
    assert (green[:11] == 0).all()  # at and below the low percentile: black
    assert (green[60:] == 255).all()  # at and above the high percentile: full brightness
    expected = np.round((np.arange(10, 61) - 10) / 50 * 255)
    assert np.array_equal(green[10:61], expected)


def test_the_stretch_is_computed_on_the_whole_image_not_per_panel():
    pixels = distinct_channels()
    low_contrast = {**FULL_RANGE, "green": [0, 100]}
    high_contrast = {**FULL_RANGE, "green": [40, 60]}
    soft = render_panels(pixels, low_contrast)
    hard = render_panels(pixels, high_contrast)
    for panel in PANELS:
        assert np.array_equal(soft[panel][..., 1], soft["protein"][..., 1])
        assert (hard[panel][..., 1] == 255).mean() > (soft[panel][..., 1] == 255).mean()


def test_a_channel_without_spread_renders_black_rather_than_failing():
    pixels = distinct_channels()
    pixels[2] = 1234
    assert not render_panels(pixels, FULL_RANGE)["nucleus"][..., 0].any()


def test_eight_bit_samples_render_like_sixteen_bit_ones():
    pixels = distinct_channels()
    eight_bit = (pixels % 1000 // 4).astype(np.uint8)
    panels = render_panels(eight_bit, FULL_RANGE)
    assert panels["er"][..., 0].max() == 255 and panels["er"][..., 0].min() == 0


def test_percentiles_of_a_large_image_match_the_exact_ones_within_a_grey_level():
    rng = np.random.default_rng(3)
    plane = rng.gamma(2.0, 300.0, size=(2048, 2048)).astype(np.uint16)
    exact = np.percentile(plane, [0.5, 99.5])
    estimate = channel_limits(plane, 0.5, 99.5)
    span = exact[1] - exact[0]
    assert abs(estimate[0] - exact[0]) < span / 255 and abs(estimate[1] - exact[1]) < span / 255


def test_it_refuses_pixels_that_are_not_four_channels_with_a_clear_message():
    with pytest.raises(ValueError, match=r"\(4, H, W\)"):
        render_panels(np.zeros((3, 8, 8), np.uint8), FULL_RANGE)


def test_it_names_the_channels_whose_percentiles_are_missing():
    with pytest.raises(ValueError, match="yellow"):
        render_panels(distinct_channels(), {c: [0, 100] for c in CHANNELS[:3]})
