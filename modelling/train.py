"""``fleetcast train``: data from the simulator or from files, a trained TFT in ``models/``."""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from inference_worker.tft import artifacts
from inference_worker.tft.features import long_frame
from inference_worker.tft.model import ModelConfig
from modelling.training import TrainingConfig, train
from producers.recording import episodes_frame, simulate_history
from schemas.common import METRICS

log = logging.getLogger(__name__)


def read_metric_table(path: Path) -> pd.DataFrame:
    """Parquet or CSV in the metric-event columns (server_id, timestamp, metrics...)."""
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = {"server_id", "timestamp"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    if not set(METRICS) & set(frame.columns):
        raise ValueError(f"{path}: none of the metric columns {list(METRICS)}")
    return frame


def simulated_data(days: float, servers: int, seed: int, data_dir: Path) -> Path:
    """Simulator history with injected incidents, written as Parquet (and its episode log)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"simulated-{days:g}d-{servers}s-seed{seed}.parquet"
    if not path.exists():
        wide, episodes = simulate_history(days=days, servers=servers, seed=seed)
        wide.to_parquet(path, index=False)
        episodes_frame(episodes).to_parquet(path.with_suffix(".episodes.parquet"), index=False)
        log.info("simulated %g days of %d servers with %d episodes into %s",
                 days, servers, len(episodes), path)
    return path


def run_train(
    *,
    data: list[Path],
    models_dir: Path,
    version: str | None,
    model_config: ModelConfig,
    training: TrainingConfig,
    accelerator: str = "auto",
) -> Path:
    wide = pd.concat([read_metric_table(p) for p in data], ignore_index=True)
    frame = long_frame(wide)
    version = version or f"tft-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    log.info("training %s on %d series, %d rows", version, frame["series"].nunique(), len(frame))
    network, vocabulary, figures = train(
        frame, model_config, training, work_dir=models_dir / ".work" / version,
        accelerator=accelerator,
    )
    target = artifacts.save(
        network, models_dir=models_dir, version=version, config=model_config,
        vocabulary=vocabulary,
        extra={
            "training": figures | {"config": asdict(training)},
            "data": [str(p) for p in data],
            "command": shlex.join(["fleetcast", *sys.argv[1:]]),
        },
    )
    log.info("saved %s (best validation loss %.4f at epoch %d)", target,
             figures["best_val_loss"], figures["best_epoch"])
    return target
