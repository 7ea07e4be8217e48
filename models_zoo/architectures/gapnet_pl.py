"""GapNet-PL (Rumetshofer, Hofmarcher et al., "Human-level Protein Localization with Convolutional
Neural Networks", ICLR 2019, section 3 and Figure 3), exactly as the authors' released weights.

An encoder of eight 3x3 SELU convolutions (two with stride 2) and two max-pools; the feature maps
of three depths are globally averaged and concatenated (32 + 64 + 128 = 224 features), then two
fully connected SELU layers of 256 units with alpha-dropout and the output layer. 626,221
parameters with 4 inputs and 13 outputs, as in the paper's Table 6. Any input size works; the
model was trained on 1024x1024 tiles.

Alpha-dropout draws a mask per sample; the reference implementation drew one mask per batch
(TeLL's ``noise_shape``), which only matters for training.

Layer names (``conv1`` ... ``conv8``, ``fc1``, ``fc2``, ``classifier``) follow the released graph's
``ConvLayer-1`` ... ``ConvLayer-8``, ``FC-1``, ``FC-2``, ``FC-3``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from models_zoo.registry import LocalizationModel, register_model


def lecun_truncated_normal_(weight: torch.Tensor) -> torch.Tensor:
    """SELU's initialisation (Klambauer et al. 2017) as the reference implementation draws it.

    ``tf.truncated_normal(stddev=1/sqrt(fan_in))``: the normal distribution of standard deviation
    ``1/sqrt(fan_in)`` restricted to two standard deviations (TensorFlow redraws the values
    outside). Like TensorFlow's, the spread of the result is about 0.88 of the nominal one (no
    rescaling). ``fan_in`` is ``in_features`` for a dense layer and ``in_channels * kh * kw`` for
    a conv. Sampled by inverting the normal CDF on uniform draws, which gives the same
    distribution as redrawing but in one pass: ``torch.nn.init.trunc_normal_`` redraws the whole
    tensor in every round, 17 s for DeepLoc's 201M-weight layer instead of 1 s.
    """
    std = 1.0 / math.sqrt(math.prod(weight.shape[1:]))
    lowest = 0.5 * math.erfc(2.0 / math.sqrt(2.0))  # the normal CDF at -2
    with torch.no_grad():
        weight.uniform_(2.0 * lowest - 1.0, 1.0 - 2.0 * lowest)
        weight.erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-2.0 * std, 2.0 * std)
    return weight


def selu_init_(module: nn.Module) -> None:
    """Truncated LeCun-normal weights and zero biases for every conv and dense layer in ``module``."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            lecun_truncated_normal_(layer.weight)
            nn.init.zeros_(layer.bias)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    # The released graph pads one pixel on every side (not TensorFlow's asymmetric "SAME").
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1)


def _max_pool() -> nn.MaxPool2d:
    # ceil_mode reproduces TensorFlow's "SAME" 2x2 pooling on odd sizes; on even sizes it is plain.
    return nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)


class GapNetPL(LocalizationModel):
    """GapNet-PL. ``forward_features`` is the 256-unit output of the second hidden layer."""

    min_input_size = 1

    def __init__(self, num_classes: int = 13, in_channels: int = 4, dropout: float = 0.3):
        super().__init__(num_classes, in_channels)
        self.conv1 = _conv3x3(in_channels, 32, stride=2)
        self.pool1 = _max_pool()
        self.conv2 = _conv3x3(32, 64, stride=2)
        self.conv3 = _conv3x3(64, 64)
        self.conv4 = _conv3x3(64, 64)
        self.conv5 = _conv3x3(64, 64)
        self.pool2 = _max_pool()
        self.conv6 = _conv3x3(64, 128)
        self.conv7 = _conv3x3(128, 128)
        self.conv8 = _conv3x3(128, 128)
        self.global_average = nn.AdaptiveAvgPool2d(1)
        self.activation = nn.SELU()
        self.fc1 = nn.Linear(32 + 64 + 128, 256)
        self.dropout1 = nn.AlphaDropout(dropout)
        self.fc2 = nn.Linear(256, 256)
        self.dropout2 = nn.AlphaDropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        selu_init_(self)

    def make_classifier(self, num_classes: int) -> nn.Module:
        classifier = nn.Linear(256, num_classes)
        selu_init_(classifier)
        return classifier

    def taps(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated global averages of the three depths, ``(N, 224)``."""
        act = self.activation
        block1 = self.pool1(act(self.conv1(x)))
        block2 = act(self.conv2(block1))
        block2 = act(self.conv3(block2))
        block2 = act(self.conv4(block2))
        block2 = self.pool2(act(self.conv5(block2)))
        block3 = act(self.conv6(block2))
        block3 = act(self.conv7(block3))
        block3 = act(self.conv8(block3))
        pooled = [self.global_average(block).flatten(1) for block in (block1, block2, block3)]
        return torch.cat(pooled, dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout1(self.activation(self.fc1(self.taps(x))))
        return self.dropout2(self.activation(self.fc2(hidden)))


@register_model
def gapnet_pl(num_classes: int = 13, in_channels: int = 4, dropout: float = 0.3) -> GapNetPL:
    """GapNet-PL as released: alpha-dropout 0.3 in the two hidden layers."""
    return GapNetPL(num_classes=num_classes, in_channels=in_channels, dropout=dropout)
