"""Model artifacts: ``models/<version>/`` with weights in safetensors and the rest in JSON.

    models/<version>/model.safetensors   the network's weights
    models/<version>/model.json          config, vocabulary, metrics, versions, data
                                         fingerprint, training and evaluation figures,
                                         and the SHA-256 of the weights
    models/latest                        a text file naming the version in use

Loading never unpickles anything: the network is rebuilt from the JSON and
the weights are read with safetensors after their hash has been checked.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pytorch_forecasting import TemporalFusionTransformer, TimeSeriesDataSet
from safetensors.torch import load_model, save_model

from inference_worker.tft.features import series_frame
from inference_worker.tft.model import ModelConfig, Vocabulary, build_network, make_dataset
from schemas.common import METRICS

WEIGHTS = "model.safetensors"
METADATA = "model.json"
LATEST = "latest"
FORMAT = 1


class ModelArtifactError(RuntimeError):
    """A model directory that cannot be used, with the reason."""


@dataclass
class LoadedModel:
    version: str
    network: TemporalFusionTransformer
    config: ModelConfig
    vocabulary: Vocabulary
    metadata: dict[str, Any]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_versions() -> dict[str, str]:
    names = ("torch", "pytorch-forecasting", "lightning", "pandas", "numpy", "safetensors")
    return {"python": platform.python_version()} | {n: package_version(n) for n in names}


def save(
    network: TemporalFusionTransformer,
    *,
    models_dir: Path,
    version: str,
    config: ModelConfig,
    vocabulary: Vocabulary,
    extra: dict[str, Any],
    make_latest: bool = True,
) -> Path:
    target = models_dir / version
    target.mkdir(parents=True, exist_ok=True)
    # save_model, not save_file(state_dict()): the TFT shares tensors between modules.
    save_model(network, str(target / WEIGHTS))
    metadata = {
        "format": FORMAT,
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "metrics": list(METRICS),
        "config": config.to_json(),
        "vocabulary": vocabulary.classes,
        "libraries": library_versions(),
        "weights_sha256": sha256(target / WEIGHTS),
        **extra,
    }
    write_metadata(target, metadata)
    if make_latest:
        (models_dir / LATEST).write_text(version + "\n")
    return target


def write_metadata(model_dir: Path, metadata: dict[str, Any]) -> None:
    (model_dir / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def resolve(path: Path) -> Path:
    """A model directory from ``models/<version>``, ``models/latest`` or ``models``.

    ``latest`` must name a version inside its own folder: a name with a path in
    it (``../elsewhere``, ``/tmp/x``, a link out) is refused with ModelArtifactError,
    so whoever can write that one line cannot make the worker load a model from
    anywhere else on the machine.
    """
    if path.is_file() and path.name == LATEST:
        return _version_in(path.parent, path.read_text().strip())
    if (path / LATEST).is_file() and not (path / METADATA).is_file():
        return _version_in(path, (path / LATEST).read_text().strip())
    return path


def _version_in(models_dir: Path, version: str) -> Path:
    target = models_dir / version
    inside = models_dir.resolve()
    if (not version or Path(version).name != version or version in (".", "..")
            or target.resolve().parent != inside):
        raise ModelArtifactError(
            f"{models_dir / LATEST} names {version[:200]!r}, which is not a model folder "
            f"inside {models_dir}: refusing to load it"
        )
    return target


def load(path: Path) -> LoadedModel:
    model_dir = resolve(Path(path))
    meta_path, weights = model_dir / METADATA, model_dir / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise ModelArtifactError(f"{model_dir} holds no {METADATA} and {WEIGHTS}")
    metadata = json.loads(meta_path.read_text())
    if metadata.get("format") != FORMAT:
        raise ModelArtifactError(f"{model_dir}: unknown artifact format {metadata.get('format')}")
    if metadata["metrics"] != list(METRICS):
        raise ModelArtifactError(
            f"model {metadata['version']} was trained for metrics {metadata['metrics']}, "
            f"but the schema now has {list(METRICS)}; retrain it with `fleetcast train`"
        )
    actual = sha256(weights)
    if actual != metadata["weights_sha256"]:
        raise ModelArtifactError(
            f"{weights} does not match the hash in {METADATA} "
            f"({actual[:12]} != {metadata['weights_sha256'][:12]}): refusing to load it"
        )
    config = ModelConfig.from_json(metadata["config"])
    vocabulary = Vocabulary(metadata["vocabulary"])
    network = build_network(template_dataset(config, vocabulary), config)
    load_model(network, str(weights), strict=True)
    network.eval()
    return LoadedModel(metadata["version"], network, config, vocabulary, metadata)


def template_dataset(config: ModelConfig, vocabulary: Vocabulary) -> TimeSeriesDataSet:
    """A one-series dataset that gives the network its shapes (no data is learned from it)."""
    length = config.max_encoder_length + config.horizon
    stamps = pd.date_range("2026-01-05", periods=length, freq="5min", tz=UTC)
    frame = series_frame(series_id="template", server_id="template", metric=METRICS[0],
                         timestamps=stamps, values=np.zeros(length, dtype=np.float64),
                         spec=config.inputs)
    assert frame is not None
    return make_dataset(frame, config, vocabulary)
