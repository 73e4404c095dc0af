"""One tiny TFT, trained once for the whole test session (seconds, not minutes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference_worker.tft import artifacts
from inference_worker.tft.features import long_frame
from inference_worker.tft.model import ModelConfig
from inference_worker.tft.training import TrainingConfig, train
from producers.recording import simulate_history

TINY = ModelConfig(hidden_size=4, attention_head_size=1, hidden_continuous_size=2)


@pytest.fixture(scope="session")
def history():
    wide, _ = simulate_history(days=3, servers=["ppdb001", "ppml0001"], seed=3)
    return wide


@pytest.fixture(scope="session")
def trained_model_dir(history, tmp_path_factory) -> Path:
    models = tmp_path_factory.mktemp("models")
    network, vocabulary, figures = train(
        long_frame(history), TINY,
        TrainingConfig(max_epochs=1, limit_train_batches=3, batch_size=16, seed=3),
        work_dir=models / ".work",
    )
    artifacts.save(network, models_dir=models, version="tiny-1", config=TINY,
                   vocabulary=vocabulary, extra={"training": figures})
    return models


@pytest.fixture(scope="session")
def loaded(trained_model_dir):
    return artifacts.load(trained_model_dir / "latest")


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
