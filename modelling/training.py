"""Training the TFT with lightning: time-based validation split, early stopping, seeded.

The last ``validation_fraction`` of the time range is held out: the model is
validated on forecasts whose first step lies after every training target, so
validation never peeks at the future. The best weights (lowest validation
loss) are kept in memory and, after every epoch that improves them, written to
``<work_dir>/best.safetensors`` (with ``best.json``: epoch and loss), so a
stopped run loses at most an epoch: ``TrainingConfig.resume`` warm-starts a new
run from such a file (weights only; the optimiser and the epoch count start
afresh). Lightning's own checkpoints are not written: they pickle, and nothing
of fleetcast loads a pickle.

When the frame mixes sources (Bitbrains July and simulated days), the split
is on the common clock: ``modelling.train`` places the simulated days so they
end where the real data ends, so the held-out part is the end of both.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from safetensors.torch import load_model, save_model

from inference_worker.tft.model import ModelConfig, Vocabulary, build_network, make_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingConfig:
    max_epochs: int = 20
    batch_size: int = 64
    limit_train_batches: int | None = 200  # samples an epoch draws (random windows)
    validation_fraction: float = 0.2
    patience: int = 4
    seed: int = 7
    gradient_clip_val: float = 0.1
    validation_stride: int = 12
    #: At most this many validation windows (a seeded sample of the strided ones), so
    #: a validation pass over a thousand real series stays minutes, not an hour.
    max_validation_samples: int | None = None
    #: Loss weight per metric, on top of the per-series weights (default 1).
    metric_weights: dict[str, float] = field(default_factory=dict)
    #: Weights to warm-start from (``<work_dir>/best.safetensors`` of a stopped run).
    resume: str | None = None


class BestWeights(Callback):
    """Keeps a copy of the weights at the lowest validation loss, also on disk (safetensors)
    when given a ``snapshot`` path, so a stopped run can warm-start from it."""

    def __init__(self, snapshot: Path | None = None) -> None:
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.snapshot = snapshot

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = trainer.callback_metrics.get("val_loss")
        if loss is not None and float(loss) < self.best_loss and not trainer.sanity_checking:
            self.best_loss = float(loss)
            self.best_epoch = trainer.current_epoch
            self.state = copy.deepcopy(pl_module.state_dict())
            if self.snapshot is not None:
                self.snapshot.parent.mkdir(parents=True, exist_ok=True)
                save_model(pl_module, str(self.snapshot))  # the weights just copied
                self.snapshot.with_suffix(".json").write_text(json.dumps(
                    {"epoch": self.best_epoch, "val_loss": self.best_loss}) + "\n")


class BatchClock(Callback):
    """Wall time of training batches (optimizer step included), to size a run."""

    def __init__(self) -> None:
        self.total = 0.0
        self.batches = 0
        self._started = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        self._started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self.total += time.perf_counter() - self._started
        self.batches += 1

    def seconds_per_batch(self) -> float:
        return self.total / self.batches if self.batches else 0.0


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the training frame's content, for the artifact's provenance."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(hashed).hexdigest()


def with_loss_weights(frame: pd.DataFrame, *, scale_floor: float = 0.0,
                      metric_weights: dict[str, float] | None = None) -> pd.DataFrame:
    """A ``weight`` column of 1 / (the series' spread), averaging 1 over series.

    The quantile loss is computed on forecasts in the series' own units, so
    without weights a network series in hundreds of Mbit/s would outweigh a CPU
    percentage a hundredfold and an error rate ten-thousandfold: the model
    would learn the loud series only. Dividing by each series' spread makes
    every series count alike, as the scale-free inputs already do.

    The spread is floored like the normaliser's scale (``scale_floor``): a VM whose
    network reads 0 all month would otherwise get a weight of a million and be the
    only series the model learns. ``metric_weights`` multiplies each metric's weight.
    """
    grouped = frame.groupby("series")["value"]
    spread = grouped.transform("std").fillna(0.0)
    floor = 1e-3 * (grouped.transform(lambda v: v.abs().mean()) + 1e-3)
    weight = 1.0 / spread.clip(lower=np.maximum(floor, scale_floor))
    if metric_weights:
        weight = weight * frame["metric"].astype(str).map(metric_weights).fillna(1.0)
    per_series = weight.groupby(frame["series"]).first()
    return frame.assign(weight=(weight / per_series.mean()).astype("float32"))


def split_point(frame: pd.DataFrame, fraction: float) -> int:
    first, last = int(frame["time_idx"].min()), int(frame["time_idx"].max())
    return last - int((last - first) * fraction)


def train(
    frame: pd.DataFrame,
    config: ModelConfig,
    training: TrainingConfig,
    *,
    work_dir: Path,
    accelerator: str = "auto",
) -> tuple[Any, Vocabulary, dict[str, Any]]:
    """Fit a TFT on a long frame; returns the network (best weights), vocabulary and figures."""
    pl.seed_everything(training.seed, workers=True)
    vocabulary = Vocabulary.of(frame)
    cutoff = split_point(frame, training.validation_fraction)
    frame = with_loss_weights(frame, scale_floor=config.scale_floor,
                              metric_weights=training.metric_weights)
    train_set = make_dataset(frame[frame["time_idx"] <= cutoff], config, vocabulary,
                             weight="weight")
    # Validation forecasts start after the cut-off; their encoders may reach back before it.
    validation = make_dataset(frame, config, vocabulary, predict=False,
                              min_prediction_idx=cutoff + 1, weight="weight")
    # One validation origin per hour and series, not per step: the same signal at a
    # twelfth of the cost.
    validation.index = validation.index.iloc[:: training.validation_stride]
    limit = training.max_validation_samples
    if limit is not None and len(validation.index) > limit:
        rng = np.random.default_rng(training.seed)
        chosen = np.sort(rng.choice(len(validation.index), size=limit, replace=False))
        validation.index = validation.index.iloc[chosen]
    network = build_network(train_set, config)
    if training.resume:
        load_model(network, training.resume, strict=True)
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    best = BestWeights(work_dir / "best.safetensors")
    batch_clock = BatchClock()
    trainer = pl.Trainer(
        max_epochs=training.max_epochs,
        accelerator="gpu" if cuda else "cpu",
        precision="bf16-mixed" if cuda else "32-true",
        gradient_clip_val=training.gradient_clip_val,
        limit_train_batches=training.limit_train_batches,
        deterministic=True,
        enable_progress_bar=True,  # lightning's bar: batches, rate and ETA
        enable_model_summary=False,
        enable_checkpointing=False,  # lightning's checkpoints pickle; BestWeights writes ours
        logger=False,
        default_root_dir=str(work_dir),
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=training.patience, mode="min"),
            best,
            batch_clock,
        ],
    )
    started = time.monotonic()
    trainer.fit(
        network,
        train_dataloaders=train_set.to_dataloader(
            train=True, batch_size=training.batch_size, num_workers=0),
        val_dataloaders=validation.to_dataloader(
            train=False, batch_size=training.batch_size * 4, num_workers=0),
    )
    if best.state is not None:
        network.load_state_dict(best.state)
    network.eval()
    figures = {
        "best_val_loss": best.best_loss,
        "best_epoch": best.best_epoch,
        "epochs_run": trainer.current_epoch,
        "train_seconds": round(time.monotonic() - started, 1),
        "train_samples": len(train_set),
        "validation_samples": len(validation),
        "seconds_per_train_batch": round(batch_clock.seconds_per_batch(), 4),
        "series": int(frame["series"].nunique()),
        "device": "cuda" if cuda else "cpu",
        "precision": "bf16-mixed" if cuda else "32-true",
        "data_fingerprint": fingerprint(frame),
        "validation_cutoff_time_idx": cutoff,
    }
    return network, vocabulary, figures
