"""Save and load: identical forecasts, no pickle, hashes and metric lists checked."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from inference_worker.tft import artifacts
from inference_worker.tft.predict import SeriesInput, predict_series
from schemas.common import METRICS


def inputs_from(history, server="ppdb001", metric="cpu_pct", steps=300):
    rows = history[history["server_id"] == server].set_index("timestamp")
    return SeriesInput(server, metric, rows.index[-steps:], rows[metric].to_numpy()[-steps:])


def test_metadata_is_json_and_weights_are_safetensors(trained_model_dir):
    model_dir = trained_model_dir / "tiny-1"
    assert (trained_model_dir / "latest").read_text().strip() == "tiny-1"
    metadata = json.loads((model_dir / "model.json").read_text())
    assert metadata["metrics"] == list(METRICS)
    assert set(metadata["vocabulary"]) == {"metric", "profile"}
    assert metadata["libraries"]["pytorch-forecasting"]
    assert metadata["training"]["data_fingerprint"]
    assert (model_dir / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors header


def test_round_trip_gives_identical_forecasts(history, trained_model_dir, loaded):
    again = artifacts.load(trained_model_dir / "tiny-1")
    series = [inputs_from(history), inputs_from(history, "ppml0001", "mem_pct")]
    first, second = predict_series(loaded, series), predict_series(again, series)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_loading_never_unpickles(trained_model_dir, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("pickle used on the load path")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert artifacts.load(trained_model_dir).version == "tiny-1"


def test_tampered_weights_are_refused(trained_model_dir, tmp_path):
    copy = tmp_path / "tiny-1"
    shutil.copytree(trained_model_dir / "tiny-1", copy)
    weights = copy / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 0xFF
    weights.write_bytes(bytes(raw))
    with pytest.raises(artifacts.ModelArtifactError, match="does not match the hash"):
        artifacts.load(copy)


def test_a_model_for_other_metrics_fails_with_a_clear_message(trained_model_dir, tmp_path):
    copy = tmp_path / "tiny-1"
    shutil.copytree(trained_model_dir / "tiny-1", copy)
    metadata = json.loads((copy / "model.json").read_text())
    metadata["metrics"] = ["cpu_pct", "gpu_pct"]
    (copy / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(artifacts.ModelArtifactError, match="retrain"):
        artifacts.load(copy)


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(artifacts.ModelArtifactError, match="holds no"):
        artifacts.load(tmp_path)
