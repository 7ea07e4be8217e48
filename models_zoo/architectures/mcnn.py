"""M-CNN, the multi-scale convolutional network of Godinez et al. 2017 ("A multi-scale
convolutional neural network for phenotyping high-content cellular images", Bioinformatics), as
configured in the GapNet-PL paper (section 3, appendix Figure 7).

The input is scaled down by s in {1, 2, 4, 8, 16, 32, 64}; each scale passes three 5x5 ReLU
convolutions (16 kernels at scales 1, 2 and 4; 32 at 8, 16 and 32; 64 at 64, read from Figure 7's
rows, whose pooling factors 64 ... 1 pair each row with its scale), is max-pooled to the smallest
resolution (1/64), and the 208 concatenated maps are combined by a 1x1 convolution with 1024
kernels and pooled by a factor of 2. The flattened maps feed a 512-unit ReLU layer and the output.

Table 6's 34,193,853 parameters hold exactly at 4 inputs and 13 outputs when the 512-unit layer
takes the flattened 1024 x 8 x 8 map of a 1024x1024 input (65,536 inputs: 33.5M of the count).
That ties the dense layer to one spatial size, so the final pooling is an adaptive max-pool to
``pooled_size`` x ``pooled_size`` (8): the factor-2 pooling at 1024 px, and any other input size
(at least 64 px, one pixel at scale 64) works too.

As in the paper authors' implementation: the scales are made by max-pooling, weights are
Xavier-uniform and biases zero, and there is no dropout.
"""

from __future__ import annotations

import torch
from torch import nn

from models_zoo.registry import LocalizationModel, register_model

SCALES = (1, 2, 4, 8, 16, 32, 64)
SCALE_WIDTHS = (16, 16, 16, 32, 32, 32, 64)


def _xavier_init_(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class ScaleBranch(nn.Sequential):
    """One scale: downscale by ``scale``, three 5x5 convs, pool down to 1/``coarsest`` of the input."""

    def __init__(self, in_channels: int, width: int, scale: int, coarsest: int):
        layers: list[nn.Module] = [nn.MaxPool2d(scale) if scale > 1 else nn.Identity()]
        for conv_in in (in_channels, width, width):
            layers += [nn.Conv2d(conv_in, width, kernel_size=5, padding=2), nn.ReLU(inplace=True)]
        pooling = coarsest // scale
        layers.append(nn.MaxPool2d(pooling) if pooling > 1 else nn.Identity())
        super().__init__(*layers)


class MCNN(LocalizationModel):
    """M-CNN. ``forward_features`` is the 512-unit hidden layer."""

    min_input_size = SCALES[-1]

    def __init__(self, num_classes: int = 13, in_channels: int = 4, pooled_size: int = 8):
        super().__init__(num_classes, in_channels)
        self.branches = nn.ModuleList(
            ScaleBranch(in_channels, width, scale, SCALES[-1])
            for scale, width in zip(SCALES, SCALE_WIDTHS)
        )
        self.combine = nn.Sequential(
            nn.Conv2d(sum(SCALE_WIDTHS), 1024, kernel_size=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveMaxPool2d(pooled_size),
        )
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(1024 * pooled_size * pooled_size, 512), nn.ReLU(inplace=True)
        )
        self.classifier = self.make_classifier(num_classes)
        _xavier_init_(self)

    def make_classifier(self, num_classes: int) -> nn.Module:
        classifier = nn.Linear(512, num_classes)
        _xavier_init_(classifier)
        return classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        scales = torch.cat([branch(x) for branch in self.branches], dim=1)
        return self.hidden(self.combine(scales))


@register_model
def mcnn(num_classes: int = 13, in_channels: int = 4, pooled_size: int = 8) -> MCNN:
    """M-CNN with the 8x8 pooled map of the paper's 1024 px crops (34,193,853 parameters)."""
    return MCNN(num_classes=num_classes, in_channels=in_channels, pooled_size=pooled_size)
