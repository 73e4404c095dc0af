"""The direct tensor path gives what the library's ``model.predict()`` gives, on the same windows.

The reference is pytorch-forecasting's documented ``model.predict(dataframe)``
(a ``TimeSeriesDataSet`` in predict mode and a Lightning ``Trainer``) on the
loaded network exactly as the library built it; the direct path runs its own
serving copy: the interpolation swapped for its matmul form, the serving
forward (``network.ServingTFT``) with the fused attention. Both fp32. The
shipped model is held to it too (its sizes are not the tiny model's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    InterpretableMultiHeadAttention,
    TimeDistributedInterpolation,
)

from inference_worker.forecaster import Batch
from inference_worker.tft import artifacts
from inference_worker.tft.attention import FusedInterpretableAttention
from inference_worker.tft.direct import DirectPath, Serving, calendar_from_epoch
from inference_worker.tft.features import calendar
from inference_worker.tft.interpolation import MatmulInterpolation
from inference_worker.tft.network import ServingTFT
from inference_worker.tft.predict import model_predict, per_window, window_series
from tests.inference_worker.factories import make_window

# fp32: the two paths sum in different orders (and the library's batches are padded
# to their own longest encoder); differences seen are about 1e-6.
TOLERANCE = 1e-4


def test_calendar_matches_the_training_features():
    stamps = pd.date_range("2026-03-01 22:40", periods=600, freq="5min", tz="UTC")
    seconds = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    direct = calendar_from_epoch(np.asarray(seconds))
    for got, want in zip(direct, calendar(stamps).values(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def library_reference(loaded, windows):
    """``model.predict()`` window by window, so each series is batched only with itself."""
    return np.concatenate([
        per_window(model_predict(loaded, window_series(Batch.of([w]))), 1, loaded.config.horizon)
        for w in windows
    ])


def assert_same_as_library(loaded, windows, serving=None):
    path = DirectPath(loaded, serving)
    assert isinstance(path.network, ServingTFT)
    assert any(isinstance(m, MatmulInterpolation) for m in path.network.modules())
    assert any(isinstance(m, FusedInterpretableAttention) for m in path.network.modules())
    assert not any(isinstance(m, InterpretableMultiHeadAttention)
                   for m in path.network.modules())
    assert any(isinstance(m, TimeDistributedInterpolation) for m in loaded.network.modules())
    direct = path.predict(Batch.of(windows))
    reference = library_reference(loaded, windows)
    assert np.isfinite(reference).any()
    np.testing.assert_array_equal(np.isnan(direct), np.isnan(reference))
    np.testing.assert_allclose(direct, reference, atol=TOLERANCE, rtol=1e-5)


def test_a_batch_of_young_servers_only(loaded):
    windows = [make_window("ppdb001", observed=251, noise=1.0, seed=1),
               make_window("ppweb001", observed=90, noise=1.0, seed=2)]
    assert_same_as_library(loaded, windows)


@pytest.fixture(scope="module")
def mixed_windows():
    cpu = np.linspace(20, 90, 288)
    cpu[100:110] = np.nan  # a gap
    return [
        make_window("ppdb001", observed=288, noise=2.0, seed=1),
        make_window("ppml0003", {"cpu_pct": cpu}, observed=288, noise=1.0, seed=2),
        make_window("ppweb001", observed=60, noise=1.0, seed=3),  # young server
        make_window("mailhost", observed=40, noise=0.5, seed=4),  # unknown prefix
        make_window("ppsrv001", observed=20, seed=5),  # too young: no forecast
    ]


def test_direct_path_equals_model_predict(loaded, mixed_windows):
    assert_same_as_library(loaded, mixed_windows)


def test_a_batch_run_in_passes_equals_model_predict(loaded, mixed_windows):
    """The worker runs a batch in passes of ``chunk_windows``; here 2, 2 and the last, too
    young server alone (a pass with nothing to forecast)."""
    assert_same_as_library(loaded, mixed_windows, Serving(chunk_windows=2))


def test_host_buffers_are_reused_across_batches(loaded, mixed_windows):
    path = DirectPath(loaded)
    first = path.predict(Batch.of(mixed_windows))
    held = path.staging.capacity("encoder_cont")
    again = path.predict(Batch.of(mixed_windows[2:]))  # smaller: viewed, not reallocated
    assert path.staging.capacity("encoder_cont") == held > 0
    np.testing.assert_allclose(again, first[2:], atol=TOLERANCE)


def test_direct_path_equals_model_predict_with_the_new_inputs(loaded_day, mixed_windows):
    """log1p network rates, the day-ago decoder input and the scale floor, both paths alike;
    a flat window (constant CPU) and a zero network series included."""
    flat = make_window("ppdb002", {"cpu_pct": 0.0, "net_in_mbps": 0.0}, observed=288, seed=6)
    assert loaded_day.config.yesterday and loaded_day.config.scale_floor > 0
    assert_same_as_library(loaded_day, [*mixed_windows, flat])


def test_the_day_ago_input_reaches_the_forecast(loaded_day):
    """A broken path that dropped the input (or fed the encoder's values) would give the same
    forecast for two windows that differ only in the day-ago part of the context."""
    base = np.full(288, 30.0)
    bumped = base.copy()
    bumped[:96] = 60.0  # only t-288..t-193: what the decoder's "yesterday" reads
    path = DirectPath(loaded_day)
    a = path.predict(Batch.of([make_window("ppdb001", {"cpu_pct": base}, noise=0.5, seed=1)]))
    b = path.predict(Batch.of([make_window("ppdb001", {"cpu_pct": bumped}, noise=0.5, seed=1)]))
    assert not np.allclose(a[0, 0], b[0, 0])


@pytest.fixture(scope="module")
def shipped():
    folder = Path(__file__).resolve().parents[3] / "models" / "tft-sim-2"
    if not (folder / "model.safetensors").exists():
        pytest.skip("the shipped model is not in this checkout")
    return artifacts.load(folder)


def test_the_shipped_model_equals_model_predict(shipped, mixed_windows):
    # Not the tiny model's sizes: several heads averaged over a shared value projection.
    assert shipped.config.attention_head_size > 1
    assert_same_as_library(shipped, mixed_windows)  # short encoders: a per-series mask
    assert_same_as_library(shipped, mixed_windows[:2])  # full ones: the shared mask


def test_the_library_forward_is_still_there_for_the_benches(loaded, mixed_windows):
    """``Serving(fused=False)`` is the path before the serving forward, and agrees with it."""
    old = DirectPath(loaded, Serving(fused=False))
    assert not isinstance(old.network, ServingTFT)
    assert any(isinstance(m, InterpretableMultiHeadAttention) for m in old.network.modules())
    batch = Batch.of(mixed_windows)
    np.testing.assert_allclose(DirectPath(loaded).predict(batch), old.predict(batch),
                               atol=TOLERANCE, rtol=1e-5, equal_nan=True)


def test_fused_attention_equals_the_library_module_with_padding():
    """Several heads (the tiny model has one), short encoders padded in the batch; the
    library's own mask, so the mask's meaning (True: hidden) is held too."""
    torch.manual_seed(0)
    library = InterpretableMultiHeadAttention(n_head=4, d_model=16).eval()
    fused = FusedInterpretableAttention(library)
    lengths = torch.tensor([30, 12, 1])
    width, horizon = 30, 9
    queries = torch.arange(horizon)[:, None]
    keys = torch.arange(width + horizon)[None, :]
    causal = (keys >= width) & (keys - width >= queries)
    mask = (causal[None] | ((keys[None] >= lengths[:, None, None]) & (keys[None] < width)))
    x = torch.randn(3, width + horizon, 16)
    with torch.no_grad():
        want, _ = library(x[:, width:], x, x, mask)
        got, _ = fused(x[:, width:], x, x, mask)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("setting", "passes"), [(64, 64), (0, None)])
def test_the_worker_runs_its_batches_in_passes_of_the_setting(setting, passes):
    from core.settings import Settings
    from inference_worker.loading import serving_from_settings

    threads = torch.get_num_threads()  # the worker's setting of them is not this test's
    try:
        serving = serving_from_settings(Settings(device="cpu", forward_chunk_windows=setting))
    finally:
        torch.set_num_threads(threads)
    assert serving.chunk_windows == passes
