"""Import the GapNet-PL weights that the paper's authors released (ml-jku/gapnet-pl,
``models/gapnet-pl.ckpt``), read out of the TensorFlow checkpoint into ``weights.npz``. The package
ships that file, with the licence it was released under, in ``models_zoo/released_weights/``
(``SHIPPED_WEIGHTS``); a folder holding another ``weights.npz`` may be given instead.

TensorFlow keeps conv kernels as ``[kh, kw, in, out]`` and dense kernels as ``[in, out]``; PyTorch
wants ``[out, in, kh, kw]`` and ``[out, in]``.

The authors did not document which image channel feeds which of the network's four inputs. The
first layer's weights are by far the largest for input 1 (an L2 norm of 9.4 against 4.4 to 5.4 for
the others), so input 1 is the protein of interest (green). The first layer does not tell the
three reference channels apart (their norms and spatial structure are alike), so the default for
the rest is the order the Human Protein Atlas names its channels in, red, green, blue, yellow,
which the authors' data (converted from the HPA's channel files) most likely kept; blue, green,
red, yellow (the file names sorted) is the other likely candidate. This is unconfirmed: on the
one real HPA field at hand, whose yellow image is misaligned, the default order ranks the
annotated Plasma membrane third, behind Mitochondria, and some other orders rank it first, which
one faulty field cannot settle. The order is a setting of the import, not a constant: the
loader permutes the first layer's inputs so that the model always takes store-ordered input
(``study.store.CHANNELS``: red, green, blue, yellow) whatever the network's order was. To settle
it on one's own labelled images, ``calibrate_channels`` ranks all 24 orders and stores the chosen
one with the run, on top of the import's (``models_zoo.channel_calibration``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from models_zoo.architectures.gapnet_pl import GapNetPL
from study.store import CHANNELS

WEIGHTS_FILE = "weights.npz"
# The authors' weights and their licence (BSD 2-Clause), shipped as package data.
SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "released_weights"
RELEASED_CHANNEL_ORDER = ("red", "green", "blue", "yellow")
RELEASED_NUM_CLASSES = 13

# TensorFlow layer name -> GapNetPL attribute; the shapes follow from the model.
_LAYERS = {
    **{f"ConvLayer-{i}": f"conv{i}" for i in range(1, 9)},
    "FC-1": "fc1",
    "FC-2": "fc2",
    "FC-3": "classifier",
}


class ReleasedWeightsError(ValueError):
    """The released weights file is missing, unreadable, or does not fit GapNet-PL."""


def load_released_gapnet(
    folder: Path | str | None = None, channel_order: tuple[str, ...] = RELEASED_CHANNEL_ORDER
) -> GapNetPL:
    """GapNet-PL with the released weights from ``folder/weights.npz``, in evaluation mode.

    Without a folder, the weights the package ships (``SHIPPED_WEIGHTS``).

    ``channel_order[i]`` names the store channel (red, green, blue or yellow) that the released
    network expects at its input ``i``. The returned model takes input in store order.
    """
    network_inputs = _store_indices(channel_order)
    path = Path(SHIPPED_WEIGHTS if folder is None else folder) / WEIGHTS_FILE
    arrays = _read_arrays(path)
    model = GapNetPL(num_classes=RELEASED_NUM_CLASSES, in_channels=len(CHANNELS))
    state = {}
    for tf_name, attribute in _LAYERS.items():
        layer = getattr(model, attribute)
        is_conv = tf_name.startswith("ConvLayer")
        kernel_name = f"{tf_name}/W_conv" if is_conv else f"{tf_name}/W_dense"
        bias_name = f"{tf_name}/b_conv" if is_conv else f"{tf_name}/b_dense"
        if is_conv:
            expected_kernel = tuple(layer.weight.shape[i] for i in (2, 3, 1, 0))
            axes = (3, 2, 0, 1)
        else:
            expected_kernel = tuple(reversed(layer.weight.shape))
            axes = (1, 0)
        kernel = _array(arrays, path, kernel_name, expected_kernel)
        bias = _array(arrays, path, bias_name, tuple(layer.bias.shape))
        state[f"{attribute}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(axes)))
        state[f"{attribute}.bias"] = torch.from_numpy(bias.copy())

    # Store channel network_inputs[i] must meet the kernels of network input i.
    first = state["conv1.weight"]
    store_ordered = torch.empty_like(first)
    store_ordered[:, network_inputs] = first
    state["conv1.weight"] = store_ordered
    model.load_state_dict(state)
    return model.eval()


def _store_indices(channel_order: tuple[str, ...]) -> list[int]:
    order = tuple(channel_order)
    if sorted(order) != sorted(CHANNELS):
        raise ValueError(
            f"channel_order must name each of {', '.join(CHANNELS)} exactly once, got {order!r}"
        )
    return [CHANNELS.index(name) for name in order]


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ReleasedWeightsError(f"{path}: no such file; expected the released GapNet-PL weights")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ReleasedWeightsError(f"{path}: not a readable .npz file ({error})") from None


def _array(arrays: dict[str, np.ndarray], path: Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in arrays:
        raise ReleasedWeightsError(f"{path}: array {name!r} is missing")
    array = arrays[name]
    if array.shape != shape:
        raise ReleasedWeightsError(
            f"{path}: array {name!r} has shape {array.shape}, GapNet-PL needs {shape}"
        )
    if not np.issubdtype(array.dtype, np.floating):
        raise ReleasedWeightsError(f"{path}: array {name!r} holds {array.dtype}, not floating point")
    return array.astype(np.float32, copy=False)
