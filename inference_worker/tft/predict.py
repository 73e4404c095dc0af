"""Forecasting with a loaded TFT: series in, p10/p50/p90 out, in the series' own units.

This is the library's own data path (a ``TimeSeriesDataSet`` in predict mode
per call), run batch by batch under ``torch.inference_mode()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pytorch_forecasting import TimeSeriesDataSet

from inference_worker.forecaster import Batch
from inference_worker.tft.artifacts import LoadedModel
from inference_worker.tft.direct import DirectPath, Serving
from inference_worker.tft.features import series_frame
from inference_worker.tft.model import make_dataset
from schemas.common import METRIC_BOUNDS, METRICS


@dataclass(frozen=True)
class SeriesInput:
    server_id: str
    metric: str
    timestamps: pd.DatetimeIndex  # one per step, regular 5-minute grid
    values: np.ndarray  # NaN for gaps


def library_dataset(model: LoadedModel, inputs: Sequence[SeriesInput]) -> TimeSeriesDataSet | None:
    """The library's predict-mode dataset of the inputs that have enough history (series
    named by their position in ``inputs``); None when none has."""
    config = model.config
    frames = []
    for i, item in enumerate(inputs):
        frame = series_frame(series_id=str(i), server_id=item.server_id, metric=item.metric,
                             timestamps=item.timestamps, values=item.values.astype(np.float64),
                             horizon=config.horizon, spec=config.inputs)
        if frame is not None and len(frame) - config.horizon >= config.min_encoder_length:
            frames.append(frame.tail(config.max_encoder_length + config.horizon))
    if not frames:
        return None
    return make_dataset(pd.concat(frames, ignore_index=True), config, model.vocabulary,
                        predict=True)


def _in_metric_units(model: LoadedModel, inputs: Sequence[SeriesInput],
                     results: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """Forecasts from model units back to each metric's units, clipped to its bounds.

    Clipping happens here, at the output only: training targets keep what was
    recorded (Bitbrains CPU reaches 155 % of provisioned capacity, and the
    incident definition must see it), but a forecast outside a metric's
    physical range is never served.
    """
    spec = model.config.inputs
    out: list[np.ndarray | None] = []
    for item, result in zip(inputs, results, strict=True):
        served = None
        if result is not None:
            served = spec.from_model(item.metric, result).astype(np.float32)
            if item.metric in METRIC_BOUNDS:
                np.clip(served, *METRIC_BOUNDS[item.metric], out=served)
        out.append(served)
    return out


def predict_series(
    model: LoadedModel, inputs: Sequence[SeriesInput], batch_size: int = 256
) -> list[np.ndarray | None]:
    """Quantiles ``(len(quantiles), horizon)`` per input; None where the observed history is
    shorter than the model's minimum context."""
    dataset = library_dataset(model, inputs)
    results: list[np.ndarray | None] = [None] * len(inputs)
    if dataset is None:
        return results
    with torch.inference_mode():
        for x, _ in dataset.to_dataloader(train=False, batch_size=batch_size, num_workers=0):
            prediction = model.network(x)["prediction"]  # (n, horizon, quantiles), denormalised
            series = dataset.x_to_index(x)["series"]
            for name, quantiles in zip(series, prediction.numpy(), strict=True):
                results[int(name)] = np.sort(quantiles.T, axis=0)
    return _in_metric_units(model, inputs, results)


def model_predict(
    model: LoadedModel, inputs: Sequence[SeriesInput], *, batch_size: int = 256,
    accelerator: str = "cpu",
) -> list[np.ndarray | None]:
    """``predict_series`` through the library's documented ``model.predict()``.

    A ``TimeSeriesDataSet`` in predict mode and a Lightning ``Trainer`` built for
    every call: the reference the direct path is held to, and the slow baseline of
    the bench. The dataset is built from fleetcast's definition rather than from
    the network's stored parameters, which carry the template's start as
    ``min_prediction_idx`` and so would drop every window older than it.
    """
    dataset = library_dataset(model, inputs)
    results: list[np.ndarray | None] = [None] * len(inputs)
    if dataset is None:
        return results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = model.network.predict(
            dataset, mode="quantiles", return_index=True, batch_size=batch_size,
            trainer_kwargs={"accelerator": accelerator, "logger": False,
                            "enable_progress_bar": False, "enable_model_summary": False},
        )
    output = prediction.output.float().cpu().numpy()  # (n, horizon, quantiles)
    for name, quantiles in zip(prediction.index["series"], output, strict=True):
        results[int(name)] = np.sort(quantiles.T, axis=0)
    return _in_metric_units(model, inputs, results)


def window_series(batch: Batch) -> list[SeriesInput]:
    """One series per window and metric, in ``(window, METRICS)`` order."""
    inputs: list[SeriesInput] = []
    for b, window in enumerate(batch.windows):
        stamps = pd.date_range(window.step_start(0), periods=window.steps,
                               freq=f"{window.step_seconds}s")
        inputs.extend(
            SeriesInput(window.server_id, name, stamps, batch.values[b, m])
            for m, name in enumerate(METRICS)
        )
    return inputs


def per_window(predicted: Sequence[np.ndarray | None], windows: int, horizon: int) -> np.ndarray:
    """Series results in ``window_series`` order as ``(windows, metrics, 3, horizon)``."""
    out = np.full((windows, len(METRICS), 3, horizon), np.nan, dtype=np.float32)
    for k, quantiles in enumerate(predicted):
        if quantiles is not None:
            out[k // len(METRICS), k % len(METRICS)] = quantiles
    return out


class TFTForecaster:
    """The worker's ``Forecaster`` over a loaded TFT (one series per window and metric).

    ``direct`` (the default) builds the model's input tensors straight from the
    windows (``direct.DirectPath``, run as ``serving`` says); otherwise every
    batch goes through the library's ``TimeSeriesDataSet``, the slow reference path.
    """

    def __init__(
        self, model: LoadedModel, *, direct: bool = True, serving: Serving | None = None
    ) -> None:
        self.model = model
        self.version = model.version
        self.horizon_steps = model.config.horizon
        self.min_context_steps = model.config.min_encoder_length
        self._direct = DirectPath(model, serving) if direct else None

    def predict(self, batch: Batch) -> np.ndarray:
        if self._direct is not None:
            return self._direct.predict(batch)
        return self.predict_with_dataset(batch)

    def predict_with_dataset(self, batch: Batch) -> np.ndarray:
        predicted = predict_series(self.model, window_series(batch))
        return per_window(predicted, len(batch.windows), self.horizon_steps)
