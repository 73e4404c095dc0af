"""The model's input settings: the day-ago feature, log1p units, the scale floor, old configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from inference_worker.tft import artifacts
from inference_worker.tft.features import DAY_LAG, YESTERDAY, InputSpec, day_ago, series_frame
from inference_worker.tft.model import FlooredEncoderNormalizer, ModelConfig

REPO = Path(__file__).resolve().parents[3]


def test_yesterday_is_the_value_288_steps_earlier():
    n = DAY_LAG + 150
    values = np.arange(n, dtype=np.float64) * 0.5 + 3.0
    values[DAY_LAG + 10] = np.nan  # an inner gap: carried forward, as the value column is
    stamps = pd.date_range("2013-07-01", periods=n, freq="5min", tz="UTC")
    frame = series_frame(series_id="s", server_id="bbvm1", metric="cpu_pct", timestamps=stamps,
                         values=values, horizon=96, spec=InputSpec(yesterday=True))
    assert frame is not None
    got = frame[YESTERDAY].to_numpy()
    kept = frame["value"].to_numpy()
    # every row a day or more into the series, decoder placeholders included
    np.testing.assert_array_equal(got[DAY_LAG:], kept[: len(kept) - DAY_LAG])
    assert got[DAY_LAG + 20] == pytest.approx(3.0 + 20 * 0.5)
    assert got[n + 95] == pytest.approx(values[n + 95 - DAY_LAG])  # last decoder step
    # younger than a day: the series' first value stands in
    assert (got[:DAY_LAG] == 3.0).all()


def test_day_ago_of_a_short_series():
    np.testing.assert_array_equal(day_ago(np.array([4.0, 5.0, 6.0]), lag=5), [4.0, 4.0, 4.0])


def test_log1p_metrics_round_trip_and_others_untouched():
    spec = InputSpec(log1p_metrics=("net_in_mbps",))
    rates = np.array([0.0, 0.5, 900.0, np.nan])
    model_units = spec.to_model("net_in_mbps", rates)
    np.testing.assert_allclose(model_units[:3], np.log1p(rates[:3]))
    assert np.isnan(model_units[3])
    np.testing.assert_allclose(spec.from_model("net_in_mbps", model_units)[:3], rates[:3])
    np.testing.assert_array_equal(spec.to_model("cpu_pct", rates[:3]), rates[:3])


def test_a_flat_window_gets_the_floor_not_epsilon():
    import torch

    flat = FlooredEncoderNormalizer(floor=0.1).fit(torch.zeros(50))
    assert float(flat.scale_) == pytest.approx(0.1)
    varied = FlooredEncoderNormalizer(floor=0.1).fit(torch.arange(50.0))
    assert float(varied.scale_) == pytest.approx(float(torch.arange(50.0).std()), rel=1e-5)


def test_an_old_config_without_the_new_keys_means_none_of_them():
    config = ModelConfig.from_json({"hidden_size": 16, "quantiles": [0.1, 0.5, 0.9]})
    assert config.inputs == InputSpec() and config.scale_floor == 0.0
    assert ModelConfig.from_json(json.loads(json.dumps(
        ModelConfig(log1p_metrics=("net_in_mbps",), yesterday=True).to_json())
    )).inputs == InputSpec(log1p_metrics=("net_in_mbps",), yesterday=True)


@pytest.mark.skipif(not (REPO / "models/tft-sim-2/model.json").is_file(),
                    reason="the shipped model is not in this checkout")
def test_the_shipped_old_model_still_loads_and_serves():
    from inference_worker.forecaster import Batch
    from inference_worker.tft.direct import DirectPath
    from tests.inference_worker.factories import make_window

    model = artifacts.load(REPO / "models/tft-sim-2")
    assert "yesterday" not in json.loads((REPO / "models/tft-sim-2/model.json").read_text())[
        "config"]
    assert not model.config.yesterday and model.config.log1p_metrics == ()
    out = DirectPath(model).predict(Batch.of([make_window("ppdb001", noise=1.0, seed=1)]))
    assert np.isfinite(out).all()
