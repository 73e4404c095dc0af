from __future__ import annotations

import numpy as np

from inference_worker.forecaster import Batch
from schemas.common import METRICS
from tests.inference_worker.factories import HEALTHY, make_window

CPU = METRICS.index("cpu_pct")


def test_batch_of_lays_windows_out_by_metric_and_step() -> None:
    cpu = np.arange(288, dtype=np.float64)
    cpu[100] = np.nan
    batch = Batch.of([make_window("ppsrv001", {"cpu_pct": cpu}), make_window("ppsrv002")])
    assert batch.values.shape == (2, len(METRICS), 288)
    assert batch.values.dtype == np.float32
    np.testing.assert_array_equal(batch.values[0, CPU], cpu)  # the gap is NaN
    for m, name in enumerate(METRICS):
        np.testing.assert_allclose(batch.values[1, m], HEALTHY[name], rtol=1e-6)
    assert [w.server_id for w in batch.windows] == ["ppsrv001", "ppsrv002"]


def test_batch_of_aligns_windows_of_different_lengths_on_their_end() -> None:
    # A shorter window (another context length, mid-deploy) must not sink the batch.
    short = make_window("ppsrv001", {"cpu_pct": np.arange(40.0)}, steps=40)
    batch = Batch.of([short, make_window("ppsrv002", steps=300)])
    assert batch.values.shape == (2, len(METRICS), 300)
    assert np.isnan(batch.values[0, :, :260]).all()
    np.testing.assert_array_equal(batch.values[0, CPU, 260:], np.arange(40.0))
    assert np.isfinite(batch.values[1]).all()


def test_an_empty_batch() -> None:
    assert Batch.of([]).values.shape == (0, len(METRICS), 0)
