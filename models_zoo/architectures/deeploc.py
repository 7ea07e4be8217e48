"""DeepLoc (Kraus et al. 2017, "Automated analysis of high-content microscopy data with deep
learning", Molecular Systems Biology) as adapted in the GapNet-PL paper (section 3, appendix Table 5).

Eight 3x3 SELU convolutions of 32, 32, 64, 64, 96, 96, 96, 96 kernels with 2x2 max-pooling after
the second, fourth and last; two fully connected SELU layers of 128 units with alpha-dropout 0.3
(SELU in place of the original ReLU with batch normalisation), and the output layer. Initialised
like GapNet-PL (truncated LeCun normal, zero biases), as in the paper authors' implementation.

The first dense layer takes the flattened final map, which for the paper's 1024x1024 crops is
96 x 128 x 128 = 1,572,864 features (201.3M of the weights). The map is therefore brought to
``feature_size`` x ``feature_size`` (128) by adaptive average pooling, the identity at 1024 px, so
that any input of at least 8 px works. At 4 inputs and 13 outputs the model has 201,715,277
parameters; Table 6 says 201,716,967, which is 1,690 (0.0008%) more: two per unit of every layer
(845 units), what a batch normalisation's scale and offset per unit would add. This model has no
batch normalisation, as the paper describes.
"""

from __future__ import annotations

import torch
from torch import nn

from models_zoo.architectures.gapnet_pl import selu_init_
from models_zoo.registry import LocalizationModel, register_model

CONV_WIDTHS = (32, 32, 64, 64, 96, 96, 96, 96)
POOL_AFTER = (1, 3, 7)  # indices into CONV_WIDTHS


class DeepLoc(LocalizationModel):
    """DeepLoc. ``forward_features`` is the second 128-unit hidden layer."""

    min_input_size = 8

    def __init__(self, num_classes: int = 13, in_channels: int = 4, feature_size: int = 128,
                 dropout: float = 0.3):
        super().__init__(num_classes, in_channels)
        layers: list[nn.Module] = []
        previous = in_channels
        for index, width in enumerate(CONV_WIDTHS):
            layers += [nn.Conv2d(previous, width, kernel_size=3, padding=1), nn.SELU()]
            if index in POOL_AFTER:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
            previous = width
        layers.append(nn.AdaptiveAvgPool2d(feature_size))
        self.encoder = nn.Sequential(*layers)
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(previous * feature_size * feature_size, 128),
            nn.SELU(),
            nn.AlphaDropout(dropout),
            nn.Linear(128, 128),
            nn.SELU(),
            nn.AlphaDropout(dropout),
        )
        self.classifier = self.make_classifier(num_classes)
        selu_init_(self)

    def make_classifier(self, num_classes: int) -> nn.Module:
        classifier = nn.Linear(128, num_classes)
        selu_init_(classifier)
        return classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(self.encoder(x))


@register_model
def deeploc(num_classes: int = 13, in_channels: int = 4, feature_size: int = 128,
            dropout: float = 0.3) -> DeepLoc:
    """DeepLoc as the paper adapted it; ``feature_size`` 128 is the map of a 1024 px crop."""
    return DeepLoc(num_classes=num_classes, in_channels=in_channels, feature_size=feature_size,
                   dropout=dropout)
