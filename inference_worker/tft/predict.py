"""Forecasting with a loaded TFT: series in, p10/p50/p90 out, in the series' own units.

This is the library's own data path (a ``TimeSeriesDataSet`` in predict mode
per call), run batch by batch under ``torch.inference_mode()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from inference_worker.forecaster import Batch
from inference_worker.tft.artifacts import LoadedModel
from inference_worker.tft.direct import DirectPath
from inference_worker.tft.features import series_frame
from inference_worker.tft.model import make_dataset
from schemas.common import METRIC_BOUNDS, METRICS


@dataclass(frozen=True)
class SeriesInput:
    server_id: str
    metric: str
    timestamps: pd.DatetimeIndex  # one per step, regular 5-minute grid
    values: np.ndarray  # NaN for gaps


def predict_series(
    model: LoadedModel, inputs: Sequence[SeriesInput], batch_size: int = 256
) -> list[np.ndarray | None]:
    """Quantiles ``(len(quantiles), horizon)`` per input; None where the observed history is
    shorter than the model's minimum context."""
    config = model.config
    frames, ids = [], []
    for i, item in enumerate(inputs):
        frame = series_frame(series_id=str(i), server_id=item.server_id, metric=item.metric,
                             timestamps=item.timestamps, values=item.values.astype(np.float64),
                             horizon=config.horizon)
        if frame is not None and len(frame) - config.horizon >= config.min_encoder_length:
            frames.append(frame.tail(config.max_encoder_length + config.horizon))
            ids.append(i)
    results: list[np.ndarray | None] = [None] * len(inputs)
    if not frames:
        return results
    dataset = make_dataset(pd.concat(frames, ignore_index=True), config, model.vocabulary,
                           predict=True)
    with torch.inference_mode():
        for x, _ in dataset.to_dataloader(train=False, batch_size=batch_size, num_workers=0):
            prediction = model.network(x)["prediction"]  # (n, horizon, quantiles), denormalised
            series = dataset.x_to_index(x)["series"]
            for name, quantiles in zip(series, prediction.numpy(), strict=True):
                results[int(name)] = np.sort(quantiles.T, axis=0)
    for item, result in zip(inputs, results, strict=True):
        if result is not None and item.metric in METRIC_BOUNDS:
            np.clip(result, *METRIC_BOUNDS[item.metric], out=result)
    return results


class TFTForecaster:
    """The worker's ``Forecaster`` over a loaded TFT (one series per window and metric).

    ``direct`` (the default) builds the model's input tensors straight from the
    windows (``direct.DirectPath``); otherwise every batch goes through the
    library's ``TimeSeriesDataSet``, the slow reference path.
    """

    def __init__(self, model: LoadedModel, *, direct: bool = True) -> None:
        self.model = model
        self.version = model.version
        self.horizon_steps = model.config.horizon
        self.min_context_steps = model.config.min_encoder_length
        self._direct = DirectPath(model) if direct else None

    def predict(self, batch: Batch) -> np.ndarray:
        if self._direct is not None:
            return self._direct.predict(batch)
        return self.predict_with_dataset(batch)

    def predict_with_dataset(self, batch: Batch) -> np.ndarray:
        inputs: list[SeriesInput] = []
        for b, window in enumerate(batch.windows):
            stamps = pd.date_range(window.step_start(0), periods=window.steps,
                                   freq=f"{window.step_seconds}s")
            inputs.extend(
                SeriesInput(window.server_id, name, stamps, batch.values[b, m])
                for m, name in enumerate(METRICS)
            )
        predicted = predict_series(self.model, inputs)
        out = np.full((len(batch.windows), len(METRICS), 3, self.horizon_steps), np.nan,
                      dtype=np.float32)
        for k, quantiles in enumerate(predicted):
            if quantiles is not None:
                out[k // len(METRICS), k % len(METRICS)] = quantiles
        return out
