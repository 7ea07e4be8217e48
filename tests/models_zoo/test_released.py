from pathlib import Path

import numpy as np
import pytest
import torch

from models_zoo.released import (
    RELEASED_CHANNEL_ORDER,
    SHIPPED_WEIGHTS,
    ReleasedWeightsError,
    load_released_gapnet,
)
from study.store import CHANNELS
from tests.fixture_files import RELEASED_TEST_VECTOR

# The weights the package ships (RELEASED_TEST_VECTOR is the authors' test vector for them).
RELEASED = SHIPPED_WEIGHTS


@pytest.fixture(scope="module")
def released_arrays():
    with np.load(RELEASED / "weights.npz") as npz:
        return {name: npz[name] for name in npz.files}


def write_weights(folder: Path, arrays: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "weights.npz", **arrays)
    return folder


def test_the_port_reproduces_the_released_graphs_logits():
    # Network order as the store order: the store's channels go to the inputs unpermuted.
    model = load_released_gapnet(RELEASED, channel_order=CHANNELS)
    nhwc = np.random.RandomState(0).randn(2, 1024, 1024, 4).astype(np.float32)
    with torch.inference_mode():
        logits = model(torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()).numpy()
    expected = np.load(RELEASED_TEST_VECTOR)
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=0)


def test_the_package_ships_the_weights_with_their_licence_and_loads_them_by_default():
    assert (SHIPPED_WEIGHTS / "weights.npz").is_file()
    assert "BSD 2-Clause" in (SHIPPED_WEIGHTS / "LICENSE").read_text()
    by_default, from_the_folder = load_released_gapnet(), load_released_gapnet(SHIPPED_WEIGHTS)
    for name, weight in by_default.state_dict().items():
        assert torch.equal(weight, from_the_folder.state_dict()[name]), name


def test_a_channel_order_permutes_the_inputs_so_the_model_takes_store_order():
    network_order = ("yellow", "green", "red", "blue")
    permuted = load_released_gapnet(RELEASED, channel_order=network_order)
    unpermuted = load_released_gapnet(RELEASED, channel_order=CHANNELS)
    store_ordered = torch.randn(2, 4, 64, 64, generator=torch.Generator().manual_seed(0))
    as_network_sees_it = store_ordered[:, [CHANNELS.index(name) for name in network_order]]
    with torch.inference_mode():
        torch.testing.assert_close(permuted(store_ordered), unpermuted(as_network_sees_it))


def test_the_default_order_feeds_green_to_the_input_with_the_largest_first_layer_weights():
    assert RELEASED_CHANNEL_ORDER[1] == "green"
    model = load_released_gapnet(RELEASED)
    norms = model.conv1.weight.detach().pow(2).sum(dim=(0, 2, 3))
    assert int(norms.argmax()) == CHANNELS.index("green")


def test_the_released_model_has_the_papers_size_and_comes_in_evaluation_mode():
    model = load_released_gapnet(RELEASED)
    assert sum(p.numel() for p in model.parameters()) == 626_221
    assert not model.training
    x = torch.randn(1, 4, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model(x), model(x))


def test_a_channel_order_must_name_each_channel_once():
    with pytest.raises(ValueError, match="exactly once"):
        load_released_gapnet(RELEASED, channel_order=("red", "green", "green", "yellow"))
    with pytest.raises(ValueError, match="exactly once"):
        load_released_gapnet(RELEASED, channel_order=("red", "green", "blue"))


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ReleasedWeightsError, match=r"weights\.npz: no such file"):
        load_released_gapnet(tmp_path)


def test_an_unreadable_weights_file_is_named(tmp_path):
    (tmp_path / "weights.npz").write_bytes(b"not a zip archive")
    with pytest.raises(ReleasedWeightsError, match=r"weights\.npz: not a readable \.npz file"):
        load_released_gapnet(tmp_path)


def test_a_missing_array_is_named(tmp_path, released_arrays):
    arrays = {k: v for k, v in released_arrays.items() if k != "FC-2/b_dense"}
    with pytest.raises(ReleasedWeightsError, match="array 'FC-2/b_dense' is missing"):
        load_released_gapnet(write_weights(tmp_path, arrays))


def test_a_misshapen_array_is_named_with_both_shapes(tmp_path, released_arrays):
    arrays = dict(released_arrays)
    arrays["ConvLayer-3/W_conv"] = arrays["ConvLayer-3/W_conv"].transpose(3, 2, 0, 1)
    with pytest.raises(
        ReleasedWeightsError,
        match=r"array 'ConvLayer-3/W_conv' has shape \(64, 64, 3, 3\), GapNet-PL needs \(3, 3, 64, 64\)",
    ):
        load_released_gapnet(write_weights(tmp_path, arrays))
