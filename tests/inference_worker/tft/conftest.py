"""The direct path's input tensors for the tiny model (tests/tiny_model.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def direct_inputs(loaded):
    """The network's input tensors for a few windows, as the direct path builds them."""
    from inference_worker.forecaster import Batch
    from inference_worker.tft.direct import DirectPath
    from schemas.common import METRICS
    from tests.inference_worker.factories import make_window

    windows = [make_window("ppdb001", noise=1.0, seed=1),
               make_window("ppweb001", observed=60, noise=1.0, seed=2)]
    batch = Batch.of(windows)
    path = DirectPath(loaded)
    b, m, steps = batch.values.shape
    _, inputs = path.encode_series(
        batch.values.reshape(b * m, steps), np.repeat([int(w.end.timestamp()) for w in windows], m),
        300, list(METRICS) * b, [w.profile for w in windows for _ in METRICS])
    assert inputs is not None
    return path.staging.to_device(inputs)
