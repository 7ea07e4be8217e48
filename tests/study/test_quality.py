"""Quality control at import: saturated, blank, out-of-focus and misregistered channels are flagged;
clean synthetic fields of any size, the real HPA field's registered channels and real single-cell
crops are not; a check with too little to judge abstains and says why."""

import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from study.labels import CYTO13
from study.quality import (
    CHANNELS,
    CHECKS,
    QualityThresholds,
    assess_sample,
    focus_measure,
    noise_sigma,
)
from study.registration import MIN_NUCLEI, nuclear_mask, whole_nuclei
from synthetic import render_field, render_sample
from synthetic.image_faults import blank, blurred, saturated, shifted
from tests.fixture_files import REAL_HPA_FIELD

SIZE = 512
DENSE = 12  # cells per 512 x 512 pixels: a field with enough whole nuclei to judge registration
# Fields of several kinds: a protein in the cytosol, the nucleoli, the mitochondria, the plasma
# membrane, the Golgi apparatus, the ER; each seed has its own cells, exposure and camera.
CLEAN = [
    (1, "Cytosol"),
    (2, "Nucleoli"),
    (3, "Mitochondria"),
    (4, "Plasma membrane"),
    (5, "Golgi apparatus"),
    (6, "Endoplasmic reticulum"),
]


@lru_cache(maxsize=None)
def _rendered(seed: int, location: str, size: int, eight_bit: bool, density: float | None) -> np.ndarray:
    return render_sample(seed, size, [CYTO13.by_name(location).index], eight_bit=eight_bit, density=density)


def synthetic(seed=1, location="Cytosol", size=SIZE, eight_bit=False, density=DENSE) -> np.ndarray:
    """A rendered field (a fresh copy, free to spoil)."""
    return _rendered(seed, location, size, eight_bit, density).copy()


def channel(name: str) -> int:
    return CHANNELS.index(name)


def flags_of(quality) -> set[tuple[str, str]]:
    return {(flag.channel, flag.check) for flag in quality.flags}


def real_planes() -> np.ndarray:
    planes = []
    for name in CHANNELS:
        with Image.open(REAL_HPA_FIELD / f"57_F11_1_{name}.png") as image:
            planes.append(np.asarray(image))
    return np.stack(planes)


@pytest.fixture(scope="module")
def real_field() -> np.ndarray:
    return real_planes()


@pytest.fixture(scope="module")
def real_quality(real_field):
    return assess_sample(real_field)


# Clean samples.


@pytest.mark.parametrize("seed, location", CLEAN)
def test_a_clean_synthetic_field_raises_no_flag_and_judges_the_reference_channels(seed, location):
    quality = assess_sample(synthetic(seed, location))
    assert quality.flags == ()
    assert quality.ok
    for name in ("red", "blue", "yellow"):
        assert quality.abstained(name) == {}


@pytest.mark.parametrize("size", [64, 96, 128, 224, 256])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("eight_bit", [False, True])
def test_a_small_clean_field_raises_no_flag_either(size, seed, eight_bit):
    # The generator's own cell density: a small field shows a part of one cell, or a few.
    quality = assess_sample(synthetic(seed, "Cytosol", size, eight_bit, density=None))
    assert quality.flags == ()


@pytest.mark.parametrize("seed, location", CLEAN[:3])
def test_a_clean_eight_bit_field_saturates_like_the_hpas_and_raises_no_flag(seed, location):
    quality = assess_sample(synthetic(seed, location, eight_bit=True))
    assert quality.flags == ()
    assert all(measures["saturated"] < 0.002 for measures in quality.measures.values())


def test_registered_channels_measure_no_offset():
    quality = assess_sample(synthetic(3, "Mitochondria"))
    for measures in quality.measures.values():
        assert (measures["shift_dy"], measures["shift_dx"]) == (0.0, 0.0)


# Too little to judge.


def test_a_crop_of_one_cell_abstains_from_registration_and_says_why():
    quality = assess_sample(synthetic(1, "Cytosol", 160, density=4))
    for name in CHANNELS:
        assert quality.measures[name]["shift"] is None
        reason = quality.abstained(name)["misregistered"]
        assert reason.startswith("too few cells to judge") and f"registration needs {MIN_NUCLEI}" in reason


def test_a_shifted_channel_in_a_crop_of_one_cell_is_not_flagged_but_abstained():
    pixels = shifted(synthetic(1, "Cytosol", 160, density=4), "yellow", 12, 0)
    quality = assess_sample(pixels)
    assert "misregistered" not in quality.flagged("yellow")
    assert "misregistered" in quality.abstained("yellow")


def test_an_empty_field_abstains_from_the_blank_check_on_every_channel():
    rng = np.random.default_rng(4)
    pixels = rng.normal(500, 15, (4, 96, 96)).round().astype(np.uint16)  # background and camera noise only
    quality = assess_sample(pixels)
    assert quality.flags == ()
    assert {(a.channel, a.check) for a in quality.abstentions} >= {(name, "blank") for name in CHANNELS}
    assert quality.abstained("red")["blank"] == "no channel shows anything: an empty field, or every stain failed"


def test_a_crop_inside_one_nucleus_does_not_call_the_er_blank():
    field = render_field(7, 512, [CYTO13.by_name("Nucleus").index], density=3)
    rows, cols = np.nonzero(ndimage.binary_erosion(field.nucleus, iterations=36))
    top, left = rows[len(rows) // 2] - 32, cols[len(cols) // 2] - 32
    crop = np.ascontiguousarray(field.image[:, top : top + 64, left : left + 64])
    quality = assess_sample(crop)
    assert "blank" not in quality.flagged("yellow")


def test_a_channel_with_a_speck_of_stain_abstains_from_the_focus_check():
    pixels = render_sample(2, 96, [CYTO13.by_name("Cytosol").index])
    pixels[channel("green")] = 400
    pixels[channel("green"), 40:44, 40:44] = 3000  # sixteen stained pixels
    quality = assess_sample(pixels)
    assert quality.measures["green"]["focus"] is None
    assert quality.abstained("green")["out_of_focus"].startswith("too little stain to judge")


# Misregistration.


@pytest.mark.parametrize("name", CHANNELS)
@pytest.mark.parametrize("seed, location", [CLEAN[0], CLEAN[3], CLEAN[5]])
def test_a_channel_shifted_by_a_few_pixels_is_flagged_misregistered_on_that_channel_only(name, seed, location):
    # How often across many fields (the stains' own shapes differ more in some than in others):
    # benchmarks/bench_quality.py.
    quality = assess_sample(shifted(synthetic(seed, location), name, 5, -3))
    assert flags_of(quality) == {(name, "misregistered")}


@pytest.mark.parametrize("name", CHANNELS)
def test_a_channel_shifted_by_a_tenth_of_the_field_is_flagged_on_that_channel_only(name):
    quality = assess_sample(shifted(synthetic(2, "Nucleoli"), name, -SIZE // 10, SIZE // 20))
    assert flags_of(quality) == {(name, "misregistered")}


def test_the_offset_says_which_way_and_how_far_the_channel_moved():
    measures = assess_sample(shifted(synthetic(1), "yellow", 6, -4)).measures["yellow"]
    assert measures["shift_dy"] == pytest.approx(6, abs=1)
    assert measures["shift_dx"] == pytest.approx(-4, abs=1)
    assert measures["shift"] == pytest.approx(np.hypot(measures["shift_dy"], measures["shift_dx"]))


def test_a_shift_under_the_threshold_is_measured_but_not_flagged():
    quality = assess_sample(shifted(synthetic(1), "red", 0, 8), QualityThresholds(max_shift_px=20))
    assert quality.flags == ()
    assert quality.measures["red"]["shift"] > 5


# Blank channels.


@pytest.mark.parametrize("name", CHANNELS)
def test_a_constant_channel_is_flagged_blank_and_nothing_else(name):
    pixels = synthetic(1)
    pixels[channel(name)] = 700
    quality = assess_sample(pixels)
    assert flags_of(quality) == {(name, "blank")}
    assert quality.measures[name]["dynamic_range"] == 0.0
    assert quality.measures[name]["shift"] is None  # a blank channel takes no part in registration


@pytest.mark.parametrize("name", CHANNELS)
def test_a_channel_of_nothing_but_camera_noise_is_flagged_blank(name):
    quality = assess_sample(blank(synthetic(2, "Nucleoli"), name, np.random.default_rng(0)))
    assert flags_of(quality) == {(name, "blank")}
    flag = quality.flags[0]
    assert (flag.measure, flag.threshold) == ("dynamic_range", 10.0)
    assert 5 < flag.value < 8  # the 0.1th to 99.9th percentile of a normal distribution: 6.2 widths


def test_an_eight_bit_channel_of_two_grey_levels_is_flagged_blank_even_if_it_draws_cells():
    pixels = synthetic(3, "Mitochondria", eight_bit=True)
    cells = pixels[channel("red")] > np.percentile(pixels[channel("red")], 50)
    pixels[channel("red")] = cells.astype(np.uint8)  # the cells at 1, the background at 0
    quality = assess_sample(pixels)
    assert ("red", "blank") in flags_of(quality)
    assert quality.measures["red"]["levels"] == 2
    assert [flag.measure for flag in quality.flags if flag.channel == "red"] == ["levels"]


def weakly_stained_seeds(count: int) -> list[int]:
    """Seeds whose camera records the protein faintly, close to the noise (a fifth of them)."""
    cytosol = [CYTO13.by_name("Cytosol").index]
    return [seed for seed in range(100) if render_field(seed, 16, cytosol).camera.weak_stain][:count]


@pytest.mark.parametrize("seed", weakly_stained_seeds(3))
@pytest.mark.parametrize("location", ["Golgi apparatus", "Centrosome"])
@pytest.mark.parametrize("size", [128, 256])
def test_a_faint_but_sound_protein_stain_is_not_blank(seed, location, size):
    quality = assess_sample(synthetic(seed, location, size=size, density=None))
    assert "blank" not in quality.flagged("green")


# Saturation.


def test_a_clipped_channel_is_flagged_saturated():
    quality = assess_sample(saturated(synthetic(1), "red", 0.05))
    assert flags_of(quality) == {("red", "saturated")}
    assert quality.measures["red"]["saturated"] == pytest.approx(0.05, abs=0.01)
    assert quality.measures["red"]["saturation_level"] == 65535


def test_twelve_bit_data_in_a_sixteen_bit_container_saturates_at_4095():
    pixels = synthetic(1)
    yellow = pixels[channel("yellow")].astype(np.float64)
    pixels[channel("yellow")] = np.clip(yellow * 4095 / np.percentile(yellow, 97), 0, 4095).astype(np.uint16)
    quality = assess_sample(pixels)
    assert flags_of(quality) == {("yellow", "saturated")}
    assert quality.measures["yellow"]["saturation_level"] == 4095


def test_a_few_saturated_specks_are_not_flagged():
    pixels = synthetic(1)
    pixels[channel("green"), 100:110, 100:110] = 65535  # 100 pixels: 0.04% of the field
    quality = assess_sample(pixels)
    assert quality.flags == ()
    assert quality.measures["green"]["saturated"] == pytest.approx(100 / SIZE**2)


def test_a_maximum_that_is_no_sensor_limit_is_not_saturation():
    pixels = synthetic(1)
    pixels[channel("blue")] = np.minimum(pixels[channel("blue")], 3000)  # clipped, but not at 4095
    quality = assess_sample(pixels)
    assert quality.measures["blue"]["saturated"] == 0.0
    assert quality.measures["blue"]["saturation_level"] == 65535


# Focus.


@pytest.mark.parametrize("name", CHANNELS)
def test_a_gaussian_blurred_channel_is_flagged_out_of_focus_on_that_channel_only(name):
    quality = assess_sample(blurred(synthetic(1), name, 3))
    assert flags_of(quality) == {(name, "out_of_focus")}


@pytest.mark.parametrize("name", ["red", "blue", "yellow"])
def test_a_two_pixel_blur_is_enough(name):
    quality = assess_sample(blurred(synthetic(4, "Plasma membrane"), name, 2))
    assert flags_of(quality) == {(name, "out_of_focus")}


def test_the_focus_measure_ignores_brightness_and_contrast():
    plane = synthetic(1)[channel("red")].astype(np.float32)
    assert focus_measure(plane * 7 + 300) == pytest.approx(focus_measure(plane), rel=1e-3)


def test_white_noise_measures_five_and_a_smooth_ramp_almost_nothing():
    rng = np.random.default_rng(1)
    assert focus_measure(rng.normal(size=(400, 400)).astype(np.float32)) == pytest.approx(5, rel=0.02)
    ramp = np.add.outer(np.arange(300.0), np.arange(300.0) ** 1.5).astype(np.float32)
    assert focus_measure(ramp) < 0.01
    assert focus_measure(np.full((50, 50), 3, np.float32)) is None


def test_the_noise_estimate_finds_the_noise_laid_over_a_field():
    field = render_field(7, SIZE, [CYTO13.by_name("Cytosol").index])
    rng = np.random.default_rng(2)
    clean = 300 + 3000 * field.signal[channel("red")]
    for sigma in (25, 60):
        noisy = (clean + rng.normal(0, sigma, clean.shape)).round().clip(0, 65535).astype(np.uint16)
        assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)
    assert noise_sigma(np.full((64, 64), 9, np.uint8)) == pytest.approx(1 / np.sqrt(12))


# The real field, and real single cells.


def test_the_real_fields_yellow_channel_is_flagged_misregistered_and_nothing_else(real_quality):
    assert flags_of(real_quality) == {("yellow", "misregistered")}
    assert real_quality.measures["yellow"]["shift"] > 100


def test_the_real_fields_red_green_and_blue_channels_are_registered(real_quality):
    for name in ("red", "green", "blue"):
        assert real_quality.measures[name]["shift"] == 0.0


def test_the_real_field_is_sharp_unsaturated_and_far_from_blank(real_quality):
    for name, measures in real_quality.measures.items():
        assert measures["saturated"] < 0.002, name
        assert measures["dynamic_range"] > 10_000, name
        assert measures["levels"] > 200, name
        assert 0.8 < measures["focus"] < 3.0, name


def test_the_real_fields_blurred_red_channel_is_flagged_too(real_field):
    quality = assess_sample(blurred(real_field, "red", 4))
    assert flags_of(quality) == {("red", "out_of_focus"), ("yellow", "misregistered")}


def test_the_real_fields_registered_channels_stay_unflagged_without_the_yellow_one(real_field):
    pixels = real_field.copy()
    pixels[channel("yellow")] = 0  # blank: out of the registration
    assert flags_of(assess_sample(pixels)) == {("yellow", "blank")}


def real_single_cell_crops(field: np.ndarray, side: int = 224) -> list[np.ndarray]:
    """Crops of ``side`` pixels around each nucleus of the real field, as single-cell data sets cut
    them; red, green and blue only (the field's ER channel belongs to another field)."""
    blue = ndimage.gaussian_filter(field[channel("blue")].astype(np.float32), 2)
    crops = []
    for cy, cx, _ in whole_nuclei(nuclear_mask(blue), 1):
        top = int(np.clip(round(cy) - side // 2, 0, field.shape[1] - side))
        left = int(np.clip(round(cx) - side // 2, 0, field.shape[2] - side))
        crops.append(np.ascontiguousarray(field[:3, top : top + side, left : left + side]))
    return crops


def test_real_single_cell_crops_are_not_flagged(real_field):
    crops = real_single_cell_crops(real_field)
    assert len(crops) >= 8
    for crop in crops:
        quality = assess_sample(crop, channels=("red", "green", "blue"))
        assert quality.flags == ()


# The interface.


def test_thresholds_decide_what_is_flagged(real_field):
    assert assess_sample(real_field, QualityThresholds(max_shift_px=10_000)).flags == ()
    flagged = assess_sample(real_field, QualityThresholds(saturated=0.0005, max_shift_px=10_000))
    assert flags_of(flagged) == {("red", "saturated"), ("green", "saturated")}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"saturated": 1.5}, "at most 1"),
        ({"min_range": -1}, "must not be negative"),
        ({"min_focus": float("nan")}, "finite number"),
        ({"max_shift_px": True}, "finite number"),
        ({"min_levels": "4"}, "finite number"),
    ],
)
def test_bad_thresholds_are_refused_with_their_name(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        QualityThresholds(**kwargs)
    assert next(iter(kwargs)) in str(error.value)


def test_thresholds_are_frozen_and_documented_defaults():
    thresholds = QualityThresholds()
    assert (thresholds.saturated, thresholds.min_range, thresholds.min_levels) == (0.01, 10.0, 4)
    assert (thresholds.min_focus, thresholds.max_shift_px) == (0.35, 3.0)
    with pytest.raises(AttributeError):
        thresholds.saturated = 0.5


def test_measures_flags_and_abstentions_are_plain_json(real_quality):
    data = json.loads(json.dumps(real_quality.as_dict(), allow_nan=False))
    assert set(data["measures"]) == set(CHANNELS)
    assert data["flags"] == [
        {
            "channel": "yellow",
            "check": "misregistered",
            "measure": "shift",
            "value": real_quality.flags[0].value,
            "threshold": 3.0,
        }
    ]
    assert {flag.check for flag in real_quality.flags} <= set(CHECKS)
    assert str(real_quality.flags[0]).startswith("yellow misregistered: shift ")
    crop = assess_sample(synthetic(1, "Cytosol", 96, density=None))
    abstained = json.loads(json.dumps(crop.as_dict()))["abstained"]
    assert abstained and all(set(item) == {"channel", "check", "reason"} for item in abstained)


def test_a_memory_mapped_sample_is_assessed_like_an_array(tmp_path):
    pixels = synthetic(1, size=256)
    np.save(tmp_path / "sample.npy", pixels)
    mapped = np.load(tmp_path / "sample.npy", mmap_mode="r")
    assert assess_sample(mapped).measures == assess_sample(pixels).measures


@pytest.mark.parametrize(
    "pixels, message",
    [
        (np.zeros((3, 64, 64), np.uint8), "shape"),
        (np.zeros((4, 64), np.uint8), "shape"),
        (np.zeros((4, 64, 64), np.float32), "uint8 or uint16"),
        (np.zeros((4, 8, 64), np.uint16), "16 pixels"),
    ],
)
def test_a_sample_of_the_wrong_shape_or_type_is_refused(pixels, message):
    with pytest.raises(ValueError, match=message):
        assess_sample(pixels)


def test_the_channel_order_is_the_stores():
    from study.store import CHANNELS as STORE_CHANNELS

    assert CHANNELS == STORE_CHANNELS


def test_the_module_needs_neither_django_nor_torch():
    code = "import sys, study.quality; print(sorted(m for m in ('django', 'torch') if m in sys.modules))"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
