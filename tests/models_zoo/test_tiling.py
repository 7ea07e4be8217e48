import math

import numpy as np
import pytest
import torch

from models_zoo.registry import create_model
from models_zoo.tiling import predict_whole_image, tile_origins

TILE = 64


@pytest.mark.parametrize(
    "height, width",
    [(1000, 2500), (3000, 1023), (700, 700), (2048, 2048), (1728, 1728), (3072, 3072), (1025, 1024)],
)
def test_tiles_cover_every_pixel_with_as_few_tiles_as_possible(height, width):
    origins = tile_origins(height, width, tile=1024)
    covered = np.zeros((height, width), dtype=bool)
    for top, left in origins:
        assert 0 <= top and 0 <= left
        assert top + 1024 <= max(height, 1024) and left + 1024 <= max(width, 1024)
        covered[top : top + 1024, left : left + 1024] = True
    assert covered.all()
    assert len(origins) == math.ceil(height / 1024) * math.ceil(width / 1024)
    assert len(set(origins)) == len(origins)


def test_the_last_tile_of_each_axis_ends_at_the_far_edge():
    origins = tile_origins(3000, 2500, tile=1024)
    assert max(top for top, _ in origins) == 3000 - 1024
    assert max(left for _, left in origins) == 2500 - 1024
    assert min(origins) == (0, 0)


def test_a_smaller_image_gets_one_tile():
    assert tile_origins(700, 500, tile=1024) == [(0, 0)]


def test_tile_sizes_must_be_positive():
    with pytest.raises(ValueError, match="tile must be a positive whole number"):
        tile_origins(100, 100, tile=0)


def manual_mean(model, image, tile):
    model.eval()
    with torch.no_grad():
        crops = torch.stack(
            [image[:, top : top + tile, left : left + tile]
             for top, left in tile_origins(image.shape[1], image.shape[2], tile)]
        )
        return model.probabilities(crops).double().mean(dim=0).numpy()


@pytest.mark.parametrize("name", ["gapnet_pl", "conv_mil"])
def test_the_prediction_is_the_mean_of_the_tiles_probabilities(name):
    torch.manual_seed(0)
    model = create_model(name)
    image = torch.randn(4, 150, 90)
    prediction = predict_whole_image(model, image, tile=TILE, batch_size=4)
    assert prediction.shape == (13,)
    assert prediction.dtype == np.float64
    np.testing.assert_allclose(prediction, manual_mean(model, image, TILE), atol=1e-6)


def test_a_model_that_outputs_probabilities_is_not_squashed_again():
    torch.manual_seed(0)
    model = create_model("conv_mil")
    image = torch.randn(4, TILE, TILE)
    with torch.no_grad():
        expected = model.eval().probabilities(image[None])[0].double().numpy()
    np.testing.assert_allclose(predict_whole_image(model, image, tile=TILE), expected, atol=1e-6)


def test_an_image_smaller_than_a_tile_is_zero_padded():
    torch.manual_seed(0)
    model = create_model("gapnet_pl")
    image = torch.randn(4, 40, 50)
    padded = torch.zeros(4, TILE, TILE)
    padded[:, :40, :50] = image
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(padded[None]))[0].double().numpy()
    np.testing.assert_allclose(predict_whole_image(model, image, tile=TILE), expected, atol=1e-6)


def test_the_batch_size_does_not_change_the_prediction():
    torch.manual_seed(0)
    model = create_model("gapnet_pl")
    image = torch.randn(4, 200, 130)
    one_by_one = predict_whole_image(model, image, tile=TILE, batch_size=1)
    all_at_once = predict_whole_image(model, image, tile=TILE, batch_size=64)
    np.testing.assert_allclose(one_by_one, all_at_once, atol=1e-6)


def test_prediction_runs_without_dropout_and_restores_the_training_mode():
    torch.manual_seed(0)
    model = create_model("gapnet_pl").train()
    image = torch.randn(4, 100, 100)
    first = predict_whole_image(model, image, tile=TILE)
    second = predict_whole_image(model, image, tile=TILE)
    np.testing.assert_array_equal(first, second)
    assert model.training


def test_an_image_with_the_wrong_channel_count_is_refused():
    model = create_model("gapnet_pl")
    with pytest.raises(ValueError, match=r"4 channels, got shape \(3, 100, 100\)"):
        predict_whole_image(model, torch.zeros(3, 100, 100), tile=TILE)


# The 8 symmetries of a square, written out independently of models_zoo.tiling.dihedral.
DIHEDRAL = [
    lambda x: x,
    lambda x: torch.rot90(x, 1, dims=(-2, -1)),
    lambda x: torch.rot90(x, 2, dims=(-2, -1)),
    lambda x: torch.rot90(x, 3, dims=(-2, -1)),
    lambda x: torch.flip(x, dims=(-1,)),
    lambda x: torch.flip(x, dims=(-2,)),
    lambda x: x.transpose(-2, -1),
    lambda x: torch.flip(x, dims=(-2, -1)).transpose(-2, -1),
]


@pytest.mark.parametrize("name", ["gapnet_pl", "conv_mil"])
def test_tta_is_the_mean_of_the_plain_predictions_of_the_8_flipped_and_turned_images(name):
    torch.manual_seed(0)
    model = create_model(name)
    # Odd sizes, 4 x 2 tiles, overlapping; the tile grid of every flip and turn of this image is the
    # flip or turn of its grid (no ties in the spreading, no padding), so that transforming the
    # whole image and transforming each tile are the same.
    image = torch.randn(4, 201, 97)
    transformed = [transform(image).contiguous() for transform in DIHEDRAL]
    assert len({tuple(t.flatten()[:50].tolist()) for t in transformed}) == 8
    expected = np.mean([predict_whole_image(model, t, tile=TILE, batch_size=3) for t in transformed], axis=0)
    augmented = predict_whole_image(model, image, tile=TILE, batch_size=5, tta=True)
    assert augmented.shape == (13,) and augmented.dtype == np.float64
    np.testing.assert_allclose(augmented, expected, rtol=0, atol=1e-6)
    # The model is not itself invariant, so the comparison says something.
    plain = predict_whole_image(model, image, tile=TILE, batch_size=5)
    assert np.abs(augmented - plain).max() > 1e-4


def test_tta_does_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    model = create_model("gapnet_pl")
    image = torch.randn(4, 130, 77)
    one_by_one = predict_whole_image(model, image, tile=TILE, batch_size=1, tta=True)
    all_at_once = predict_whole_image(model, image, tile=TILE, batch_size=64, tta=True)
    np.testing.assert_allclose(one_by_one, all_at_once, atol=1e-6)


def test_without_tta_the_prediction_is_unchanged():
    torch.manual_seed(0)
    model = create_model("gapnet_pl")
    image = torch.randn(4, 201, 97)
    default = predict_whole_image(model, image, tile=TILE)
    np.testing.assert_array_equal(predict_whole_image(model, image, tile=TILE, tta=False), default)
    np.testing.assert_allclose(default, manual_mean(model, image, TILE), atol=1e-6)


def on_the_bfloat16_grid(probabilities: np.ndarray) -> np.ndarray:
    as_float32 = torch.from_numpy(probabilities).float()
    return (as_float32.bfloat16().double() == torch.from_numpy(probabilities)).numpy()


@pytest.mark.parametrize("name", ["gapnet_pl", "conv_mil", "fcn_seg", "softmax"])
def test_under_bfloat16_autocast_the_probabilities_are_float32(name):
    # bfloat16 probabilities take 129 values between 0.5 and 1, which tie AUCs and thresholds.
    from models_zoo.runs import SoftmaxOutputs

    torch.manual_seed(0)
    model = SoftmaxOutputs(create_model("gapnet_pl")) if name == "softmax" else create_model(name)
    image = torch.randn(4, TILE, TILE)  # one tile: the prediction is that tile's probabilities
    amp = predict_whole_image(model, image, tile=TILE, amp=True)
    plain = predict_whole_image(model, image, tile=TILE)
    assert not on_the_bfloat16_grid(amp).any()
    np.testing.assert_allclose(amp, plain, atol=5e-3)  # the network itself ran in bfloat16
    assert np.abs(amp - plain).max() > 0
