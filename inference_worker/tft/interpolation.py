"""The library's linear interpolation as a product with a constant matrix.

pytorch-forecasting widens a variable's input to the hidden size with
``TimeDistributedInterpolation``: ``F.interpolate(mode="linear",
align_corners=True)``. On an H100 that kernel (``upsample_linear1d``) took
97.7% of the forward pass. The interpolation is fixed and linear, so it is
``x @ W`` with ``W[i, j]`` the weight input ``i`` has in output ``j``; a
matmul is what a GPU does best. ``swap_interpolation`` replaces the modules
of a loaded network in place (the weights are untouched: these modules hold
none when ``trainable=False``, the only way the library builds them).
"""

from __future__ import annotations

import numpy as np
import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    AddNorm,
    ResampleNorm,
    TimeDistributedInterpolation,
)
from torch import nn


def interpolation_matrix(input_size: int, output_size: int) -> torch.Tensor:
    """``(input_size, output_size)`` weights of linear interpolation with aligned corners."""
    weights = np.zeros((input_size, output_size), dtype=np.float64)
    if output_size == 1 or input_size == 1:
        weights[0, :] = 1.0  # every output is the first input, as the library computes it
        return torch.from_numpy(weights.astype(np.float32))
    # Output j samples the input at j * (in - 1) / (out - 1), between two neighbours.
    # In float32, as torch's kernel computes it, so the weights are the very same numbers.
    scale = np.float32(input_size - 1) / np.float32(output_size - 1)
    position = np.arange(output_size, dtype=np.float32) * scale
    left = np.minimum(position.astype(np.int64), input_size - 1)
    right = np.minimum(left + 1, input_size - 1)
    fraction = (position - left.astype(np.float32)).astype(np.float64)
    columns = np.arange(output_size)
    np.add.at(weights, (left, columns), 1.0 - fraction)
    np.add.at(weights, (right, columns), fraction)
    return torch.from_numpy(weights.astype(np.float32))


class MatmulInterpolation(nn.Module):
    """``TimeDistributedInterpolation(output_size, trainable=False)`` for a known input size."""

    def __init__(self, input_size: int, output_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.output_size = output_size
        # A buffer, not a parameter: it moves with .to(device) and is never trained or saved.
        self.register_buffer("weight", interpolation_matrix(input_size, output_size),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight: torch.Tensor = self.weight  # type: ignore[assignment]
        return torch.matmul(x, weight.to(x.dtype))


def swap_interpolation(network: nn.Module) -> int:
    """Replace every untrained ``TimeDistributedInterpolation`` by its matmul; returns how many.

    The input size is not stored on the interpolation module itself, only on the
    module that owns it (``ResampleNorm.input_size``, ``AddNorm.skip_size``).
    """
    swapped = 0
    for owner in network.modules():
        resample = getattr(owner, "resample", None)
        if not isinstance(resample, TimeDistributedInterpolation) or resample.trainable:
            continue
        if isinstance(owner, ResampleNorm):
            input_size = owner.input_size
        elif isinstance(owner, AddNorm):
            input_size = owner.skip_size
        else:
            continue
        matmul = MatmulInterpolation(input_size, resample.output_size)
        owner.resample = matmul.to(next(network.parameters()).device)
        swapped += 1
    return swapped
