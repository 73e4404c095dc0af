"""One tiny TFT, trained once for the whole test session (seconds, not minutes).

A plugin of the root conftest, so the worker's, the modelling and the bench tests share one
model instead of training one per folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_worker.tft import artifacts
from inference_worker.tft.features import long_frame
from inference_worker.tft.model import ModelConfig
from modelling.training import TrainingConfig, train
from producers.recording import simulate_history

TINY = ModelConfig(hidden_size=4, attention_head_size=1, hidden_continuous_size=2)
#: The same size with the inputs added for issue 11: log1p network rates, the value a day
#: before each decoder step as a known input, a floor under the window's scale.
TINY_DAY = ModelConfig(hidden_size=4, attention_head_size=1, hidden_continuous_size=2,
                       log1p_metrics=("net_in_mbps", "net_out_mbps", "latency_ms"),
                       yesterday=True, scale_floor=0.1)


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
def loaded_day(history, tmp_path_factory):
    """A tiny model with the new inputs (``TINY_DAY``), trained on the same history."""
    models = tmp_path_factory.mktemp("models-day")
    network, vocabulary, figures = train(
        long_frame(history, spec=TINY_DAY.inputs), TINY_DAY,
        TrainingConfig(max_epochs=1, limit_train_batches=3, batch_size=16, seed=3,
                       max_validation_samples=64),
        work_dir=models / ".work",
    )
    artifacts.save(network, models_dir=models, version="tiny-day-1", config=TINY_DAY,
                   vocabulary=vocabulary, extra={"training": figures})
    return artifacts.load(models / "latest")
