"""Forecasts start after the last observed step, span 96 steps, and keep their quantiles ordered."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from inference_worker.alerts import AlertTracker
from inference_worker.batch_scoring import score_batch
from inference_worker.forecaster import Batch
from inference_worker.tft.features import calendar, series_frame, time_index
from inference_worker.tft.predict import SeriesInput, TFTForecaster, predict_series
from schemas.common import METRICS
from tests.inference_worker.factories import make_window


def test_decoder_rows_start_one_step_after_the_last_observation():
    stamps = pd.date_range("2026-03-02 21:00", periods=40, freq="5min", tz="UTC")
    values = np.arange(40, dtype=np.float64)
    values[:5] = np.nan  # not yet reporting
    values[20] = np.nan  # a gap
    frame = series_frame(series_id="s", server_id="ppdb001", metric="cpu_pct",
                         timestamps=stamps, values=values, horizon=96)
    assert frame is not None
    observed, future = frame.iloc[:-96], frame.iloc[-96:]
    assert observed["time_idx"].iloc[0] == time_index(stamps[5:6])[0], "leading gap dropped"
    assert observed["value"].iloc[15] == 19.0, "inner gap carried forward"
    assert list(future["time_idx"]) == list(range(observed["time_idx"].iloc[-1] + 1,
                                                  observed["time_idx"].iloc[-1] + 97))
    first_future = stamps[-1] + pd.Timedelta(minutes=5)  # 00:20 the next day
    expected = calendar(pd.DatetimeIndex([first_future]))
    for name, column in expected.items():
        assert future[name].iloc[0] == column[0], f"{name} of the first forecast step"


def test_forecast_has_96_ordered_steps(history, loaded):
    rows = history[history["server_id"] == "ppdb001"].set_index("timestamp")
    result = predict_series(loaded, [SeriesInput("ppdb001", "mem_pct", rows.index[-288:],
                                                  rows["mem_pct"].to_numpy()[-288:])])[0]
    assert result is not None and result.shape == (3, 96)
    assert np.all(result[0] <= result[1]) and np.all(result[1] <= result[2])


def test_unknown_servers_and_prefixes_still_forecast(history, loaded):
    rows = history[history["server_id"] == "ppml0001"].set_index("timestamp")
    values = rows["cpu_pct"].to_numpy()[-200:]
    results = predict_series(loaded, [
        SeriesInput("ppml9999", "cpu_pct", rows.index[-200:], values),  # unseen server
        SeriesInput("mailhost-3", "cpu_pct", rows.index[-200:], values),  # no known prefix
    ])
    assert all(r is not None and np.isfinite(r).all() for r in results)


def test_too_short_a_history_gets_no_forecast(history, loaded):
    rows = history[history["server_id"] == "ppml0001"].set_index("timestamp")
    short = SeriesInput("ppml0001", "cpu_pct", rows.index[-10:], rows["cpu_pct"].to_numpy()[-10:])
    assert predict_series(loaded, [short]) == [None]


def test_worker_forecaster_maps_windows_and_metrics(loaded):
    ready = make_window("ppdb001", observed=288)
    young = make_window("ppweb001", observed=20)
    forecaster = TFTForecaster(loaded)
    out = forecaster.predict(Batch.of([ready, young]))
    assert out.shape == (2, len(METRICS), 3, 96)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()
    scored = score_batch(forecaster, [ready, young], AlertTracker(), ready.end)
    assert scored[0].forecast.status == "ok" and scored[1].forecast.status == "warming_up"
    assert scored[0].forecast.model_version == "tiny-1"
    assert scored[0].forecast.start == ready.end
    assert ready.end - ready.step_start(ready.steps - 1) == timedelta(minutes=5)
