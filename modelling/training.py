"""Training the TFT with lightning: time-based validation split, early stopping, seeded.

The last ``validation_fraction`` of the time range is held out: the model is
validated on forecasts whose first step lies after every training target, so
validation never peeks at the future. The best weights (lowest validation
loss) are kept in memory and saved as safetensors; lightning's checkpoints
are written for resuming a run but never loaded by fleetcast.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

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


class BestWeights(Callback):
    """Keeps a copy of the weights at the lowest validation loss."""

    def __init__(self) -> None:
        self.best_loss = float("inf")
        self.best_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loss = trainer.callback_metrics.get("val_loss")
        if loss is not None and float(loss) < self.best_loss and not trainer.sanity_checking:
            self.best_loss = float(loss)
            self.best_epoch = trainer.current_epoch
            self.state = copy.deepcopy(pl_module.state_dict())


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of the training frame's content, for the artifact's provenance."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(hashed).hexdigest()


def with_loss_weights(frame: pd.DataFrame) -> pd.DataFrame:
    """A ``weight`` column of 1 / (the series' spread), averaging 1 over series.

    The quantile loss is computed on forecasts in the series' own units, so
    without weights a network series in hundreds of Mbit/s would outweigh a CPU
    percentage a hundredfold and an error rate ten-thousandfold: the model
    would learn the loud series only. Dividing by each series' spread makes
    every series count alike, as the scale-free inputs already do.
    """
    grouped = frame.groupby("series")["value"]
    spread = grouped.transform("std").fillna(0.0)
    floor = 1e-3 * (grouped.transform(lambda v: v.abs().mean()) + 1e-3)
    weight = 1.0 / spread.clip(lower=floor)
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
    frame = with_loss_weights(frame)
    train_set = make_dataset(frame[frame["time_idx"] <= cutoff], config, vocabulary,
                             weight="weight")
    # Validation forecasts start after the cut-off; their encoders may reach back before it.
    validation = make_dataset(frame, config, vocabulary, predict=False,
                              min_prediction_idx=cutoff + 1, weight="weight")
    # One validation origin per hour and series, not per step: the same signal at a
    # twelfth of the cost.
    validation.index = validation.index.iloc[:: training.validation_stride]
    network = build_network(train_set, config)
    cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    best = BestWeights()
    trainer = pl.Trainer(
        max_epochs=training.max_epochs,
        accelerator="gpu" if cuda else "cpu",
        precision="bf16-mixed" if cuda else "32-true",
        gradient_clip_val=training.gradient_clip_val,
        limit_train_batches=training.limit_train_batches,
        deterministic=True,
        enable_progress_bar=True,  # lightning's bar: batches, rate and ETA
        enable_model_summary=False,
        logger=False,
        default_root_dir=str(work_dir),
        callbacks=[
            EarlyStopping(monitor="val_loss", patience=training.patience, mode="min"),
            ModelCheckpoint(dirpath=str(work_dir / "checkpoints"), monitor="val_loss",
                            save_top_k=1, mode="min"),
            best,
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
        "series": int(frame["series"].nunique()),
        "device": "cuda" if cuda else "cpu",
        "precision": "bf16-mixed" if cuda else "32-true",
        "data_fingerprint": fingerprint(frame),
        "validation_cutoff_time_idx": cutoff,
    }
    return network, vocabulary, figures
