"""Model size and cost: parameters (the paper's Table 6) and multiply-accumulates per forward pass.

MACs are counted from shapes alone: the model runs on a ``meta`` tensor with ``meta`` stand-ins for
its parameters, so nothing is computed and a 1024x1024 input of a 200M-parameter model is counted
in well under a second. Forward hooks count, per call of a module:

- convolution: output elements x (input channels / groups) x kernel area;
- linear: output elements x input features;
- max and average pooling: output elements x window area;
- adaptive pooling: the larger of the input and output element counts (every input element is
  read into one window, or every output element copies one input).

Activations, normalisation, dropout and tensor arithmetic outside modules are not counted.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

POOLS = (nn.MaxPool2d, nn.AvgPool2d)
ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def count_parameters(model: nn.Module) -> int:
    """All parameters (weights, biases, learned thresholds); buffers are not parameters."""
    return sum(parameter.numel() for parameter in model.parameters())


def _window_area(kernel_size: int | tuple[int, ...]) -> int:
    return math.prod(kernel_size) if isinstance(kernel_size, tuple) else kernel_size**2


def _module_macs(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        return output.numel() * (module.in_channels // module.groups) * _window_area(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if isinstance(module, POOLS):
        return output.numel() * _window_area(module.kernel_size)
    if isinstance(module, ADAPTIVE_POOLS):
        return max(inputs[0].numel(), output.numel())
    return 0


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass in evaluation mode.

    ``input_shape`` is ``(N, C, H, W)`` for a batch, or ``(C, H, W)`` for one sample.
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4 or any(not isinstance(size, int) or size < 1 for size in shape):
        raise ValueError(f"input_shape must be (N, C, H, W) or (C, H, W) positive sizes, got {input_shape!r}")

    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += _module_macs(module, inputs, output)

    stand_ins = {
        name: torch.empty_like(tensor, device="meta")
        for name, tensor in [*model.named_parameters(), *model.named_buffers()]
    }
    handles = [module.register_forward_hook(count) for module in model.modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            functional_call(model, stand_ins, (torch.empty(shape, device="meta"),))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total
