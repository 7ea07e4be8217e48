"""Convolutional MIL (Kraus, Ba and Frey 2016, "Classifying and segmenting microscopy images with
deep multiple instance learning", Bioinformatics; GapNet-PL paper, section 3).

A fully convolutional network produces a probability map per class; noisy-AND pooling turns each
map into the image's probability of that class:

    P = (sigmoid(a (mean_ij p_ij - b)) - sigmoid(-a b)) / (sigmoid(a (1 - b)) - sigmoid(-a b))

with slope a = 5 (the paper's choice) and a threshold b per class, learned and kept in [0, 1] as
b = sigmoid(raw_b) (0.5 at the start). The layers follow the paper authors' implementation: 3x3
average pooling with stride 2; 3x3 ReLU convolutions of 32 and 64 kernels; 3x3 max-pooling with
stride 2 and dropout 0.2; three times a 3x3 convolution (64, 128, 128) with the same pooling and
dropout; a 1x1 convolution of 1000 kernels with dropout 0.5; and a 1x1 convolution with one
kernel per class giving the maps at 1/32 of the input resolution. Xavier-normal weights, zero
biases.

The network computes probabilities itself (``outputs_probabilities = True``): ``probabilities``
returns P, and ``forward`` returns logit(P) (P clamped to [1e-6, 1 - 1e-6]), so that binary
cross-entropy on logits, as for every other model, is the cross-entropy of P, and a sigmoid of
``forward`` gives P back rather than squashing a probability a second time.

Parameters: 420,074 at 4 inputs and 13 outputs. Table 6 says 593,143; the difference, 173,069 =
13 x 32 x 32 x 13 + 13, is a dense layer over the flattened 32 x 32 class maps of a 1024 px input
that the paper authors' implementation adds beside noisy-AND as a second output. That layer is not
part of Kraus et al.'s method nor of the paper's description, and its output is not the noisy-AND
probability, so it is left out.
"""

from __future__ import annotations

import torch
from torch import nn

from models_zoo.registry import LocalizationModel, register_model

PROBABILITY_CLAMP = 1e-6


def noisy_and(mean_probability: torch.Tensor, slope: float, threshold: torch.Tensor) -> torch.Tensor:
    """Kraus et al. 2016's noisy-AND of the mean instance probability."""
    low = torch.sigmoid(-slope * threshold)
    high = torch.sigmoid(slope * (1 - threshold))
    return (torch.sigmoid(slope * (mean_probability - threshold)) - low) / (high - low)


class NoisyAndHead(nn.Module):
    """The last layer: a 1x1 convolution to class maps and the per-class noisy-AND thresholds."""

    def __init__(self, in_channels: int, num_classes: int, slope: float):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.raw_threshold = nn.Parameter(torch.zeros(num_classes))
        self.slope = slope
        nn.init.xavier_normal_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    @property
    def threshold(self) -> torch.Tensor:
        """b in [0, 1], one per class."""
        return torch.sigmoid(self.raw_threshold)

    def class_maps(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        mean_probability = self.class_maps(features).mean(dim=(2, 3))
        return noisy_and(mean_probability, self.slope, self.threshold)


def _conv_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.ReLU(inplace=True)]


def _pool_dropout(rate: float) -> list[nn.Module]:
    return [nn.MaxPool2d(kernel_size=3, stride=2, padding=1), nn.Dropout(rate)]


class ConvMIL(LocalizationModel):
    """Convolutional MIL. ``forward_features`` is the 1000-channel map before the class maps."""

    outputs_probabilities = True
    min_input_size = 1

    def __init__(self, num_classes: int = 13, in_channels: int = 4, slope: float = 5.0):
        super().__init__(num_classes, in_channels)
        self.slope = slope
        self.features = nn.Sequential(
            nn.AvgPool2d(kernel_size=3, stride=2, padding=1, count_include_pad=False),
            *_conv_relu(in_channels, 32),
            *_conv_relu(32, 64),
            *_pool_dropout(0.2),
            *_conv_relu(64, 64),
            *_pool_dropout(0.2),
            *_conv_relu(64, 128),
            *_pool_dropout(0.2),
            *_conv_relu(128, 128),
            *_pool_dropout(0.2),
            *_conv_relu(128, 1000, kernel_size=1),
            nn.Dropout(0.5),
        )
        for module in self.features.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_normal_(module.weight)
                nn.init.zeros_(module.bias)
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return NoisyAndHead(1000, num_classes, self.slope)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position class probabilities ``(N, num_classes, H/32, W/32)``."""
        return self.classifier.class_maps(self.forward_features(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In float32: under bfloat16 autocast, 1 - 1e-6 would round to 1 and the logit to infinity.
        probability = self.probabilities(x).float().clamp(PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP)
        return torch.logit(probability)


@register_model
def conv_mil(num_classes: int = 13, in_channels: int = 4, slope: float = 5.0) -> ConvMIL:
    """Convolutional MIL with noisy-AND pooling of slope a = 5."""
    return ConvMIL(num_classes=num_classes, in_channels=in_channels, slope=slope)
