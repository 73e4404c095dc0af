"""The matmul interpolation computes what the library's F.interpolate module computes."""

from __future__ import annotations

import copy

import pytest
import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    TimeDistributedInterpolation,
)

from inference_worker.tft.interpolation import MatmulInterpolation, swap_interpolation

TOLERANCE = 1e-6  # fp32; each output is the same two-term weighted sum


@pytest.mark.parametrize("input_size, output_size", [(1, 16), (2, 16), (8, 16), (7, 32),
                                                     (16, 8), (5, 1), (3, 3)])
@pytest.mark.parametrize("shape", [(64,), (4, 96)])  # (batch,) and (batch, time)
def test_matmul_equals_the_library_module(input_size, output_size, shape):
    x = torch.randn(*shape, input_size, generator=torch.Generator().manual_seed(input_size))
    original = TimeDistributedInterpolation(output_size, batch_first=True, trainable=False)
    expected = original(x)
    got = MatmulInterpolation(input_size, output_size)(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=TOLERANCE, rtol=0)


def test_swapping_a_network_changes_no_output(loaded, direct_inputs):
    network = copy.deepcopy(loaded.network)
    before = [m for m in network.modules() if isinstance(m, TimeDistributedInterpolation)]
    assert swap_interpolation(network) == len(before) > 0
    assert not any(isinstance(m, TimeDistributedInterpolation) for m in network.modules())
    with torch.inference_mode():
        expected = loaded.network(direct_inputs)["prediction"]
        got = network(direct_inputs)["prediction"]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
