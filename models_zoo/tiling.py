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
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

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
    bfloat16 autocast. Probabilities come from ``model.probabilities``, so a model that computes
    probabilities itself (``outputs_probabilities``) is not passed through a sigmoid again.

    ``tta`` averages each tile's probabilities over its 8 dihedral transforms; ``batch_size`` then
    counts transformed tiles, so a forward pass holds no more inputs than without it.
    """
    image = torch.as_tensor(image, dtype=torch.float32)
    if image.ndim != 3 or image.shape[0] != model.in_channels:
        raise ValueError(
            f"image must be (channels, height, width) with {model.in_channels} channels, "
            f"got shape {tuple(image.shape)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    _, height, width = image.shape
    origins = tile_origins(height, width, tile)
    image = F.pad(image, (0, max(0, tile - width), 0, max(0, tile - height)))

    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    # Every (tile, transform) pair weighs the same, so the mean over tiles of each tile's mean over
    # its transforms is the mean over all pairs, whichever batches they fall into.
    transforms = DIHEDRAL_TRANSFORMS if tta else 1
    views = [(top, left, transform) for top, left in origins for transform in range(transforms)]
    total = torch.zeros(model.num_classes, dtype=torch.float64)
    try:
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            for start in range(0, len(views), batch_size):
                batch = torch.stack(
                    [dihedral(image[:, top : top + tile, left : left + tile], transform)
                     for top, left, transform in views[start : start + batch_size]]
                ).to(device, non_blocking=True)
                total += model.probabilities(batch).double().sum(dim=0).cpu()
    finally:
        model.train(was_training)
    return (total / len(views)).numpy()
