"""FCN-Seg, the fully convolutional network of Liimatainen et al. 2018 as the GapNet-PL paper
describes it (section 3): learning low-resolution segmentation maps from image-level labels.

Every input channel has its own path of three 3x3 ReLU convolutions, each followed by 2x2
max-pooling, with an increasing number of kernels (``path_widths``, 32, 64, 128); the paths' outputs
are summed element-wise, passed through one more 3x3 ReLU convolution (``merge_width``, 128) and a
final 1x1 convolution with one filter per class, which gives class maps at 1/8 of the input
resolution. The paper gives no widths and Table 6 no parameter count; these widths make a model
of about half a million parameters, like the other small models of the comparison, with
PyTorch's default initialisation (the paper kept its framework's defaults where the authors said
nothing).

Image-level logits are the global average of the class-map logits, so every position takes part
in training (a global max would train one position per image). The paper binarises the output by
a per-class threshold optimised on the training set; here, as for every multi-label run, ``train
--tune-thresholds`` fits them (:func:`models_zoo.training.validation.fit_thresholds`, on the validation
split), the run keeps them (``ModelRun.thresholds``) and ``predict`` applies them.
"""

from __future__ import annotations

import torch
from torch import nn

from models_zoo.registry import LocalizationModel, register_model


class FCNSeg(LocalizationModel):
    """FCN-Seg. ``forward_features`` is the merged map ``(N, merge_width, H/8, W/8)``; the classifier
    is the 1x1 convolution that turns it into class maps."""

    min_input_size = 8

    def __init__(self, num_classes: int = 13, in_channels: int = 4,
                 path_widths: tuple[int, int, int] = (32, 64, 128), merge_width: int = 128):
        super().__init__(num_classes, in_channels)
        # The separate per-channel paths are one grouped convolution per depth (group g is the
        # path of channel g): the same weights and results as separate modules, in one kernel call.
        layers: list[nn.Module] = []
        previous = 1
        for width in path_widths:
            layers += [
                nn.Conv2d(in_channels * previous, in_channels * width, kernel_size=3, padding=1,
                          groups=in_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True),
            ]
            previous = width
        self.paths = nn.Sequential(*layers)
        self.path_width = previous
        self.merge = nn.Sequential(
            nn.Conv2d(previous, merge_width, kernel_size=3, padding=1), nn.ReLU(inplace=True)
        )
        self.merge_width = merge_width
        self.global_average = nn.AdaptiveAvgPool2d(1)
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Conv2d(self.merge_width, num_classes, kernel_size=1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the thresholds moved to the run carry a never-fitted buffer of 0.5s.
        state_dict.pop(prefix + "thresholds", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        paths = self.paths(x)
        n, _, h, w = paths.shape
        summed = paths.view(n, self.in_channels, self.path_width, h, w).sum(dim=1)
        return self.merge(summed)

    def class_map_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x))

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-position class probabilities ``(N, num_classes, H/8, W/8)``."""
        return torch.sigmoid(self.class_map_logits(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_average(self.class_map_logits(x)).flatten(1)


@register_model
def fcn_seg(num_classes: int = 13, in_channels: int = 4,
            path_widths: tuple[int, int, int] = (32, 64, 128), merge_width: int = 128) -> FCNSeg:
    """FCN-Seg with per-channel paths of 32, 64 and 128 kernels and a 128-kernel merge."""
    return FCNSeg(num_classes=num_classes, in_channels=in_channels, path_widths=path_widths,
                  merge_width=merge_width)
