"""DenseNet-121 (Huang et al. 2017, "Densely Connected Convolutional Networks"; GapNet-PL paper,
section 3 and appendix Table 4), written with torch alone.

DenseNet-BC: a 7x7 stride-2 stem of 64 kernels and a 3x3 stride-2 max-pool; four dense blocks of
(6, 12, 24, 16) layers, each BN-ReLU-1x1 conv (bottleneck of 4k = 128) then BN-ReLU-3x3 conv adding
k = 32 maps; transitions BN-ReLU-1x1 conv halving the maps (reduction 0.5) and 2x2 average pooling;
a final BN-ReLU, global average pooling and the output layer. With a 4-channel stem and 13 outputs
that is 6,970,317 parameters, Table 6's count. Inputs of at least 32 px (five halvings).

``memory_efficient=True`` recomputes each bottleneck's concatenation, BN and 1x1 conv during the
backward pass instead of storing them (gradient checkpointing): far less memory at 1024 px, for
about a quarter more compute.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from models_zoo.registry import LocalizationModel, register_model


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (bottleneck) then BN-ReLU-Conv3x3, adding ``growth_rate`` maps."""

    def __init__(self, in_channels: int, growth_rate: int, bottleneck_factor: int, memory_efficient: bool):
        super().__init__()
        width = bottleneck_factor * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, growth_rate, kernel_size=3, padding=1, bias=False)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        return self.conv1(F.relu(self.norm1(torch.cat(features, dim=1))))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if self.memory_efficient and self.training and any(f.requires_grad for f in features):
            bottleneck = checkpoint(self.bottleneck, *features, use_reentrant=False)
        else:
            bottleneck = self.bottleneck(*features)
        return self.conv2(F.relu(self.norm2(bottleneck)))


class DenseBlock(nn.ModuleList):
    """Each layer sees the concatenation of the block's input and every earlier layer's output."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bottleneck_factor: int,
                 memory_efficient: bool):
        super().__init__(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bottleneck_factor, memory_efficient)
            for i in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self:
            features.append(layer(features))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.BatchNorm2d(in_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
            nn.AvgPool2d(kernel_size=2, stride=2),
        )


class DenseNet(LocalizationModel):
    """DenseNet-BC. ``forward_features`` is the globally averaged final map (1024 for DenseNet-121)."""

    min_input_size = 32

    def __init__(
        self,
        num_classes: int = 13,
        in_channels: int = 4,
        growth_rate: int = 32,
        block_layers: tuple[int, ...] = (6, 12, 24, 16),
        stem_width: int = 64,
        bottleneck_factor: int = 4,
        reduction: float = 0.5,
        memory_efficient: bool = False,
    ):
        super().__init__(num_classes, in_channels)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, stem_width, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ]
        width = stem_width
        for index, num_layers in enumerate(block_layers):
            layers.append(DenseBlock(num_layers, width, growth_rate, bottleneck_factor, memory_efficient))
            width += num_layers * growth_rate
            if index < len(block_layers) - 1:
                reduced = int(width * reduction)
                layers.append(Transition(width, reduced))
                width = reduced
        layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.num_features = width
        self.classifier = self.make_classifier(num_classes)
        # The initialisation of the reference DenseNet code.
        for module in self.features.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        classifier = nn.Linear(self.num_features, num_classes)
        nn.init.zeros_(classifier.bias)
        return classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


@register_model
def densenet121(num_classes: int = 13, in_channels: int = 4, memory_efficient: bool = False) -> DenseNet:
    """DenseNet-121: growth rate 32, blocks (6, 12, 24, 16), reduction 0.5, bottleneck 4k."""
    return DenseNet(num_classes=num_classes, in_channels=in_channels, memory_efficient=memory_efficient)
