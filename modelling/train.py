"""``fleetcast train``: data from the simulator or from files, a trained TFT in ``models/``.

Real data and simulated days go into one training frame. The simulated days
are placed to end where the real data ends (``simulated_start``): the
validation hold-out is the last part of the common time range, so it holds
the end of July for the real VMs and the last simulated days alike, and the
simulated servers share the real calendar (time of day, day of week).
"""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from inference_worker.tft import artifacts
from inference_worker.tft.features import long_frame
from inference_worker.tft.model import ModelConfig
from modelling.bitbrains import load_bitbrains
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


def simulated_data(days: float, servers: int, seed: int, data_dir: Path,
                   start: pd.Timestamp | None = None) -> Path:
    """Simulator history with injected incidents, written as Parquet (and its episode log);
    ``start`` (default: the simulator's own) is part of the file name."""
    data_dir.mkdir(parents=True, exist_ok=True)
    when = "" if start is None else f"-from{start:%Y%m%d}"
    path = data_dir / f"simulated-{days:g}d-{servers}s-seed{seed}{when}.parquet"
    if not path.exists():
        wide, episodes = simulate_history(
            days=days, servers=servers, seed=seed,
            start=None if start is None else start.to_pydatetime())
        wide.to_parquet(path, index=False)
        episodes_frame(episodes).to_parquet(path.with_suffix(".episodes.parquet"), index=False)
        log.info("simulated %g days of %d servers with %d episodes into %s",
                 days, servers, len(episodes), path)
    return path


def simulated_start(real: pd.DataFrame, days: float) -> pd.Timestamp:
    """Where ``days`` simulated days start so that they end at the real data's last day."""
    end = pd.Timestamp(real["timestamp"].max()).tz_convert("UTC").ceil("D")
    return end - pd.Timedelta(days=days)


def sample_servers(wide: pd.DataFrame, count: int | None, seed: int) -> pd.DataFrame:
    """``count`` servers drawn at random (seeded), or all of them."""
    servers = np.sort(wide["server_id"].unique())
    if count is None or count >= len(servers):
        return wide
    chosen = np.random.default_rng(seed).choice(servers, size=count, replace=False)
    return wide[wide["server_id"].isin(chosen)]


def sample_series(frame: pd.DataFrame, count: int | None, seed: int) -> pd.DataFrame:
    """At most ``count`` series of a long frame (seeded)."""
    names = np.sort(frame["series"].unique())
    if count is None or count >= len(names):
        return frame
    chosen = np.random.default_rng([seed, 2]).choice(names, size=count, replace=False)
    return frame[frame["series"].isin(chosen)].reset_index(drop=True)


def read_real(data: list[Path], fmt: str) -> pd.DataFrame | None:
    """The ``--data`` files as one wide frame (None when there are none)."""
    if not data:
        return None
    if fmt == "bitbrains":
        return load_bitbrains(data)
    return pd.concat([read_metric_table(p) for p in data], ignore_index=True)


@dataclass(frozen=True)
class Simulation:
    days: float
    servers: int
    seed: int
    data_dir: Path


def run_train(
    *,
    data: list[Path],
    models_dir: Path,
    version: str | None,
    model_config: ModelConfig,
    training: TrainingConfig,
    accelerator: str = "auto",
    fmt: str = "wide",
    simulate: Simulation | None = None,
    vms: int | None = None,
    max_series: int | None = None,
) -> Path:
    real = read_real(data, fmt)
    parts, sources = [], [str(p) for p in data]
    if real is not None:
        parts.append(sample_servers(real, vms, training.seed))
    if simulate is not None:
        start = None if real is None else simulated_start(real, simulate.days)
        path = simulated_data(simulate.days, simulate.servers, simulate.seed, simulate.data_dir,
                              start=start)
        parts.append(read_metric_table(path))
        sources.append(str(path))
    if not parts:
        raise ValueError("no training data: give --data files or --simulate DAYS")
    wide = pd.concat(parts, ignore_index=True)
    frame = sample_series(long_frame(wide, spec=model_config.inputs), max_series, training.seed)
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
            "data": sources,
            "data_format": fmt,
            "command": shlex.join(["fleetcast", *sys.argv[1:]]),
        },
    )
    log.info("saved %s (best validation loss %.4f at epoch %d)", target,
             figures["best_val_loss"], figures["best_epoch"])
    return target
