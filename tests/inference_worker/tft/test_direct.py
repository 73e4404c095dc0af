"""The direct tensor path gives what the library's own path gives, on the same windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from inference_worker.forecaster import Batch
from inference_worker.tft.direct import DirectPath, calendar_from_epoch
from inference_worker.tft.features import calendar
from inference_worker.tft.predict import SeriesInput, predict_series
from schemas.common import METRICS
from tests.inference_worker.factories import make_window

TOLERANCE = 1e-4  # fp32: the two paths sum in different orders


def test_calendar_matches_the_training_features():
    stamps = pd.date_range("2026-03-01 22:40", periods=600, freq="5min", tz="UTC")
    seconds = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    direct = calendar_from_epoch(np.asarray(seconds))
    for got, want in zip(direct, calendar(stamps).values(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def assert_same_as_library(loaded, windows):
    direct = DirectPath(loaded).predict(Batch.of(windows))
    for b, window in enumerate(windows):
        stamps = pd.date_range(window.step_start(0), periods=window.steps, freq="300s")
        batch = Batch.of([window])
        reference = predict_series(loaded, [
            SeriesInput(window.server_id, name, stamps, batch.values[0, m])
            for m, name in enumerate(METRICS)
        ])
        for m, expected in enumerate(reference):
            if expected is None:
                assert np.isnan(direct[b, m]).all()
            else:
                np.testing.assert_allclose(direct[b, m], expected, atol=TOLERANCE, rtol=1e-5,
                                           err_msg=f"{window.server_id} {METRICS[m]}")


def test_a_batch_of_young_servers_only(loaded):
    windows = [make_window("ppdb001", observed=251, noise=1.0, seed=1),
               make_window("ppweb001", observed=90, noise=1.0, seed=2)]
    assert_same_as_library(loaded, windows)


def test_direct_path_equals_the_library_path(loaded):
    cpu = np.linspace(20, 90, 288)
    cpu[100:110] = np.nan  # a gap
    windows = [
        make_window("ppdb001", observed=288, noise=2.0, seed=1),
        make_window("ppml0003", {"cpu_pct": cpu}, observed=288, noise=1.0, seed=2),
        make_window("ppweb001", observed=60, noise=1.0, seed=3),  # young server
        make_window("mailhost", observed=40, noise=0.5, seed=4),  # unknown prefix
        make_window("ppsrv001", observed=20, seed=5),  # too young: no forecast
    ]
    assert_same_as_library(loaded, windows)
