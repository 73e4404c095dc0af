"""Training is seeded: the same data and seed give the same weights."""

from __future__ import annotations

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
