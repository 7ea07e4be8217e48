"""Whole-image prediction from fixed-size tiles (GapNet-PL paper, section 3.1).

Models train on 1024x1024 crops; a whole image (1728, 2048, 3072 px or any other size, square or
not) is predicted as the mean of the probabilities of 1024x1024 tiles that cover every pixel. Along
each axis the tiles are spread evenly from the near edge to the far edge, overlapping where the
size is not a multiple of the tile, with as few tiles as cover the axis (the reference
implementation's patching). An axis shorter than a tile gets one tile, zero-padded beyond the
image: zero is the mean of an image z-scored over its whole area.

Test-time augmentation (``tta=True``, beyond the paper) makes each tile's probabilities the mean
over the tile's 8 dihedral transforms (the identity, three quarter turns, and the flip of each);
the transformed tiles go through the model together in the same batches as plain tiles would.

The image goes to the model's device once; tiles are cut, turned and stacked there (channels_last on
a GPU), and their probabilities summed there, read back once per image. Under bfloat16 autocast
(``amp``) every model's last layer (``classifier``) runs in float32, so that its logits, and the
sigmoid or softmax that makes them probabilities, are float32: bfloat16 probabilities take only 129
values between 0.5 and 1, which would tie AUCs, thresholds and stored predictions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models_zoo.registry import LocalizationModel

# The symmetries of a square tile: 4 quarter turns, each with and without a left-right flip.
DIHEDRAL_TRANSFORMS = 8


def axis_origins(size: int, tile: int) -> list[int]:
    """Start offsets of the fewest ``tile``-long windows covering ``0 .. size``, evenly spread."""
    if size <= tile:
        return [0]
    count = math.ceil(size / tile)
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def tile_origins(height: int, width: int, tile: int = 1024) -> list[tuple[int, int]]:
    """``(top, left)`` of every tile of a ``height`` x ``width`` image, row by row."""
    for field, value in (("height", height), ("width", width), ("tile", tile)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{field} must be a positive whole number of pixels, got {value!r}")
    return [(top, left) for top in axis_origins(height, tile) for left in axis_origins(width, tile)]


def dihedral(tile: torch.Tensor, index: int) -> torch.Tensor:
    """The ``index``-th (0 to 7) dihedral transform of a square ``(..., H, W)`` tile; 0 is the identity."""
    if index >= 4:
        tile = torch.flip(tile, dims=(-1,))
    return torch.rot90(tile, index % 4, dims=(-2, -1)) if index % 4 else tile


@contextmanager
def float32_classifiers(model: nn.Module, device_type: str) -> Iterator[None]:
    """Inside bfloat16 autocast, the ``classifier`` of every :class:`LocalizationModel` in ``model``
    runs in float32, on float32 inputs: logits and the probabilities made from them stay float32."""
    handles = []
    for module in model.modules():
        if not isinstance(module, LocalizationModel):
            continue
        contexts: list[torch.autocast] = []

        def enter(head, args, contexts=contexts):
            context = torch.autocast(device_type, enabled=False)
            context.__enter__()
            contexts.append(context)
            return tuple(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args)

        def leave(head, args, output, contexts=contexts):
            if contexts:
                contexts.pop().__exit__(None, None, None)

        handles.append(module.classifier.register_forward_pre_hook(enter))
        handles.append(module.classifier.register_forward_hook(leave, always_call=True))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def predict_whole_image(
    model: LocalizationModel,
    image: torch.Tensor | np.ndarray,
    tile: int = 1024,
    batch_size: int = 4,
    device: torch.device | str | None = None,
    amp: bool = False,
    tta: bool = False,
) -> np.ndarray:
    """The mean of the tiles' per-class probabilities, ``(num_classes,)`` float64.

    ``image`` is ``(C, H, W)``, already z-scored over the whole image. The model runs in
    evaluation mode (its previous mode is restored afterwards) on ``device``, by default the one
    its parameters are on; a different ``device`` moves the model there. ``amp`` runs it under
    bfloat16 autocast, its last layer in float32. Probabilities come from ``model.probabilities``,
    so a model that computes probabilities itself (``outputs_probabilities``) is not passed through
    a sigmoid again.

    ``tta`` averages each tile's probabilities over its 8 dihedral transforms; ``batch_size`` then
    counts transformed tiles, so a forward pass holds no more inputs than without it.
    """
    image = torch.as_tensor(image)
    if image.ndim != 3 or image.shape[0] != model.in_channels:
        raise ValueError(
            f"image must be (channels, height, width) with {model.in_channels} channels, "
            f"got shape {tuple(image.shape)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _, height, width = image.shape
    origins = tile_origins(height, width, tile)

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    # The image crosses to the device once; tiles are cut from it there.
    image = image.to(device, dtype=torch.float32, non_blocking=True)
    if height < tile or width < tile:
        image = F.pad(image, (0, max(0, tile - width), 0, max(0, tile - height)))
    channels_last = device.type == "cuda"
    was_training = model.training
    model.eval()
    # Every (tile, transform) pair weighs the same, so the mean over tiles of each tile's mean over
    # its transforms is the mean over all pairs, whichever batches they fall into.
    transforms = DIHEDRAL_TRANSFORMS if tta else 1
    views = [(top, left, transform) for top, left in origins for transform in range(transforms)]
    total = torch.zeros(model.num_classes, dtype=torch.float64, device=device)
    try:
        with (
            torch.inference_mode(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp),
            float32_classifiers(model, device.type) if amp else nullcontext(),
        ):
            for start in range(0, len(views), batch_size):
                batch = torch.stack(
                    [dihedral(image[:, top : top + tile, left : left + tile], transform)
                     for top, left, transform in views[start : start + batch_size]]
                )
                if channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                total += model.probabilities(batch).double().sum(dim=0)
    finally:
        model.train(was_training)
    return (total / len(views)).cpu().numpy()
