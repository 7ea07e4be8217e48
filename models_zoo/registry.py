"""The contract every architecture meets, and the names they are created by.

Training, fine-tuning and prediction treat all models alike through :class:`LocalizationModel`:

- constructor keyword arguments ``num_classes`` (default 13) and ``in_channels`` (default 4), plus
  options of the architecture;
- ``forward_features(x)``: the input of ``classifier`` (a pooled feature vector ``(N, F)`` for the
  models that end in fully connected layers; feature maps ``(N, F, h, w)`` for the fully
  convolutional ones, whose ``classifier`` turns them into class maps);
- ``forward(x)``: logits ``(N, num_classes)``, to be trained with binary cross-entropy on logits;
- ``probabilities(x)``: per-class probabilities ``(N, num_classes)``;
- ``reset_classifier(num_classes)``: replaces the last layer only (the single-location fine-tune);
- ``outputs_probabilities``: True where the network computes probabilities itself (Convolutional
  MIL's noisy-AND pooling); its ``forward`` then returns their logit, so that a trainer can apply
  the same loss to every model and nothing is passed through a sigmoid twice;
- ``min_input_size``: the smallest height and width in pixels that the model accepts.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable

import torch
from torch import nn


class LocalizationModel(nn.Module, metaclass=abc.ABCMeta):
    """Base class of every architecture: multi-label classification of C-channel images."""

    outputs_probabilities: bool = False
    min_input_size: int = 1

    def __init__(self, num_classes: int, in_channels: int):
        super().__init__()
        _check_positive("num_classes", num_classes)
        _check_positive("in_channels", in_channels)
        self.num_classes = num_classes
        self.in_channels = in_channels

    @abc.abstractmethod
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The input of ``classifier`` for a batch ``(N, in_channels, H, W)``."""

    @abc.abstractmethod
    def make_classifier(self, num_classes: int) -> nn.Module:
        """A freshly initialised last layer with ``num_classes`` outputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer by a new one with ``num_classes`` outputs; nothing else changes."""
        _check_positive("num_classes", num_classes)
        reference = next(self.classifier.parameters())
        self.classifier = self.make_classifier(num_classes).to(
            device=reference.device, dtype=reference.dtype
        )
        self.num_classes = num_classes


def _check_positive(field: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} must be a positive whole number, got {value!r}")


ModelConstructor = Callable[..., LocalizationModel]
_CONSTRUCTORS: dict[str, ModelConstructor] = {}


def register_model(constructor: ModelConstructor) -> ModelConstructor:
    """Make ``constructor`` available to :func:`create_model` under its function name."""
    name = constructor.__name__
    if name in _CONSTRUCTORS:
        raise ValueError(f"a model named {name!r} is already registered")
    _CONSTRUCTORS[name] = constructor
    return constructor


def _load_architectures() -> None:
    # Importing the package runs every architecture module's @register_model.
    import models_zoo.architectures  # noqa: F401


def list_models() -> list[str]:
    """The names that :func:`create_model` accepts, sorted."""
    _load_architectures()
    return sorted(_CONSTRUCTORS)


def create_model(name: str, **options) -> LocalizationModel:
    """A new model of the architecture called ``name``, built with ``options``.

    Raises ``ValueError`` naming the known models for an unknown name, and the accepted options
    for an unknown option.
    """
    _load_architectures()
    try:
        constructor = _CONSTRUCTORS[name]
    except KeyError:
        known = ", ".join(sorted(_CONSTRUCTORS))
        raise ValueError(f"unknown model {name!r}; choose one of: {known}") from None
    accepted = inspect.signature(constructor).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"model {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"its options are: {', '.join(accepted)}"
        )
    return constructor(**options)
