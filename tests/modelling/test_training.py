"""Training is seeded: the same data and seed give the same weights."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from inference_worker.tft.features import long_frame
from modelling.training import TrainingConfig, split_point, train
from tests.tiny_model import TINY


def test_same_seed_same_weights(history, tmp_path):
    frame = long_frame(history)
    config = TrainingConfig(max_epochs=1, limit_train_batches=2, batch_size=16, seed=5)
    first, _, figures = train(frame, TINY, config, work_dir=tmp_path / "a")
    second, _, _ = train(frame, TINY, config, work_dir=tmp_path / "b")
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    assert figures["device"] == "cpu" and figures["best_epoch"] == 0


def test_validation_is_the_last_part_of_the_time_range(history):
    frame = long_frame(history)
    cutoff = split_point(frame, 0.2)
    first, last = frame["time_idx"].min(), frame["time_idx"].max()
    assert cutoff == last - int((last - first) * 0.2)


def test_every_series_weighs_alike_in_the_loss(history):
    from modelling.training import with_loss_weights

    frame = with_loss_weights(long_frame(history))
    per_series = frame.groupby("series").agg(weight=("weight", "first"), std=("value", "std"))
    assert abs(per_series["weight"].mean() - 1.0) < 1e-5
    # weight x spread is the same for every series that varies
    product = (per_series["weight"] * per_series["std"])[per_series["std"] > 1e-3]
    assert product.max() / product.min() < 1.01


BITBRAINS_JULY = (Path(__file__).resolve().parents[2]
                  / "../shared/data/bitbrains/rnd-2013-07.parquet")


@pytest.mark.skipif(not BITBRAINS_JULY.is_file(), reason="../shared/data is not here")
def test_training_on_a_slice_of_bitbrains_gives_a_model_that_loads_and_resumes(tmp_path):
    from inference_worker.tft import artifacts
    from modelling.train import Simulation, run_train

    config = replace(TINY, log1p_metrics=("net_in_mbps", "net_out_mbps"), yesterday=True,
                     scale_floor=0.1)
    common = dict(data=[BITBRAINS_JULY], fmt="bitbrains", vms=2, models_dir=tmp_path,
                  model_config=config,
                  simulate=Simulation(days=2, servers=2, seed=3, data_dir=tmp_path / "data"))
    training = TrainingConfig(max_epochs=1, limit_train_batches=2, batch_size=16,
                              max_validation_samples=32)
    target = run_train(version="bb-1", training=training, **common)
    model = artifacts.load(target)
    assert model.config == config
    meta = model.metadata
    assert meta["data_format"] == "bitbrains" and len(meta["data"]) == 2
    # the simulated days end where July's data ends (2013-07-30 22:00 UTC), so the
    # hold-out is the end of both
    simulated_end = pd.read_parquet(meta["data"][1])["timestamp"].max()
    july_end = pd.Timestamp("2013-07-30 22:00", tz="UTC")
    assert abs(pd.Timestamp(simulated_end) - july_end) < pd.Timedelta(days=1)
    assert meta["training"]["seconds_per_train_batch"] > 0
    snapshot = tmp_path / ".work" / "bb-1" / "best.safetensors"
    assert snapshot.is_file() and not list(tmp_path.rglob("*.ckpt"))  # nothing pickled
    assert json.loads(snapshot.with_suffix(".json").read_text())["epoch"] == 0
    resumed = run_train(version="bb-2", training=replace(training, resume=str(snapshot)),
                        **common)
    # Training is seeded, so a run that ignored the warm start would repeat bb-1's weights
    # exactly; one that starts from them trains them on.
    first = artifacts.load(target).network.state_dict()
    warm = artifacts.load(resumed).network.state_dict()
    assert sum(float((warm[k] - first[k]).abs().sum()) for k in first) > 0


def test_a_zero_series_does_not_take_over_the_loss(history):
    from modelling.training import with_loss_weights

    frame = long_frame(history)
    zero = frame[frame["series"] == frame["series"].iloc[0]].assign(series="zero", value=0.0)
    both = pd.concat([frame, zero], ignore_index=True)

    def weights(floor: float) -> pd.Series:
        return with_loss_weights(both, scale_floor=floor).groupby("series")["weight"].first()

    floored, unfloored = weights(0.1), weights(0.0)
    assert floored["zero"] <= floored.drop("zero").max()
    assert unfloored["zero"] > 100 * unfloored.drop("zero").max()  # what the floor prevents
