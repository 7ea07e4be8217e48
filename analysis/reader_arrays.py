"""Readers' answers as arrays, as every numerical core of ``analysis`` takes them, with the checks they share.

Beyond the conventions of ``models_zoo.classification_figures`` (truth, probabilities, ``n_classes``):

- a reader's answers: int array ``(n_samples,)`` of class indices, ``NO_ANSWER`` (-1) meaning "no answer";
  many readers: int matrix ``(n_readers, n_samples)``;
- results are reproducible from a seed: ``None`` is refused;
- results turn into strict JSON: numpy values become plain Python, NaN becomes null.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models_zoo.classification_figures import MetricInputError, check_n_classes, position

NO_ANSWER = -1


def check_answers(answers: Any, n_classes: int, *, name: str = "answers") -> np.ndarray:
    """``answers`` as an integer matrix ``(n_readers, n_samples)``; a 1-D array is one reader.

    The dtype is kept (a compact int8 matrix of many readers stays compact); values must be class
    indices or -1.
    """
    n_classes = check_n_classes(n_classes)
    original = np.asarray(answers)
    if original.ndim not in (1, 2):
        raise MetricInputError(
            f"{name}: expected shape (n_samples,) or (n_readers, n_samples), got {original.shape}"
        )
    if original.size == 0:
        raise MetricInputError(f"{name}: no samples (shape {original.shape})")
    if not np.issubdtype(original.dtype, np.integer):
        raise MetricInputError(
            f"{name}: expected integer class indices (-1 for no answer), got dtype {original.dtype}"
        )
    bad = (original < NO_ANSWER) | (original >= n_classes)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        raise MetricInputError(
            f"{name}{position(where)} = {original[where]} is neither a class index "
            f"0..{n_classes - 1} nor {NO_ANSWER} (no answer)"
        )
    return original if original.ndim == 2 else original[np.newaxis, :]


def check_seed(seed: int) -> int:
    """A seed for ``numpy.random.default_rng``: results must be reproducible, so ``None`` is refused."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MetricInputError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into plain Python, NaN into ``None`` (JSON null)."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
