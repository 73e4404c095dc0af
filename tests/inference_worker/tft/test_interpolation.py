"""The serving network's module swaps: matmul interpolation, fp32 LSTMs under bf16 autocast."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    TimeDistributedInterpolation,
)

from inference_worker.forecaster import Batch
from inference_worker.tft.autocast import keep_recurrent_fp32
from inference_worker.tft.direct import DirectPath, Serving
from inference_worker.tft.interpolation import MatmulInterpolation, swap_interpolation
from tests.inference_worker.factories import make_window

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


def test_lstms_kept_in_fp32_change_nothing_without_autocast(loaded, direct_inputs):
    network = copy.deepcopy(loaded.network)
    assert keep_recurrent_fp32(network) == 2  # the encoder's and the decoder's
    with torch.inference_mode():
        expected = loaded.network(direct_inputs)["prediction"]
        got = network(direct_inputs)["prediction"]
    torch.testing.assert_close(got, expected, atol=0, rtol=0)


def test_bf16_autocast_runs_and_stays_near_fp32(loaded):
    windows = [make_window("ppdb001", noise=1.0, seed=1), make_window("ppweb001", seed=2)]
    exact = DirectPath(loaded).predict(Batch.of(windows))
    rounded = DirectPath(loaded, Serving(bf16=True)).predict(Batch.of(windows))
    assert np.isfinite(rounded).all()
    # bf16 keeps 8 bits of mantissa; the bench measures the change on a real model.
    np.testing.assert_allclose(rounded, exact, rtol=0.05, atol=0.5)
