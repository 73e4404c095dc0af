"""The direct tensor path: context windows straight into the TFT's input tensors.

``predict_series`` goes through the library's ``TimeSeriesDataSet``, which
builds a DataFrame, encodes it row by row and collates sample by sample:
fine for evaluation, far too slow for a worker that keeps up with a fleet.
This path computes the very same inputs with a few vectorised numpy
operations over the whole batch (same left-aligned, zero-padded encoder
layout, same per-series standardisation by the encoder window, same calendar
covariates and relative time index) and runs one forward pass under
``torch.inference_mode()``. A test holds it equal to the library's
``model.predict()`` on the same windows.

The network it runs is the loaded one made ready for serving
(``serving_network``): a copy with the library's interpolation replaced by
its exact matmul form, its attention by a fused one (``attention.py``) and its
forward pass by one without the library's per-step copies
(``network.ServingTFT``), on the device chosen at start, optionally compiled.
Inputs go through reused host buffers (``staging.HostStaging``); on CUDA the
forward pass runs under bf16 autocast unless turned off.

The model's input settings (``features.InputSpec``, ``ModelConfig.scale_floor``)
are applied here exactly as the training frames apply them: values go into
model units first (log1p for the listed metrics), the window's scale is
floored, the decoder's "yesterday" input is the value one day before each
decoder step in model units, standardised by the window's center and scale,
and forecasts come back to metric units before they are clipped.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from inference_worker.forecaster import Batch, carry_forward
from inference_worker.tft.artifacts import LoadedModel, template_dataset
from inference_worker.tft.attention import swap_attention
from inference_worker.tft.autocast import keep_recurrent_fp32
from inference_worker.tft.features import COVARIATES, DAY_LAG, YESTERDAY
from inference_worker.tft.interpolation import swap_interpolation
from inference_worker.tft.network import ServingTFT, supports
from inference_worker.tft.staging import HostStaging
from schemas.common import METRIC_BOUNDS, METRICS
from schemas.profiles import profile_for

_EPS = float(torch.finfo(torch.float32).eps)  # what the library adds to the std


def calendar_from_epoch(seconds: np.ndarray) -> list[np.ndarray]:
    """``features.calendar`` on epoch seconds (UTC), in COVARIATES order."""
    minute_of_day = (seconds // 60) % 1440
    day_fraction = minute_of_day / 1440.0
    weekday = ((seconds // 86400) + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    week_fraction = (weekday + day_fraction) / 7.0
    return [
        np.sin(2 * np.pi * day_fraction).astype(np.float32),
        np.cos(2 * np.pi * day_fraction).astype(np.float32),
        np.sin(2 * np.pi * week_fraction).astype(np.float32),
        np.cos(2 * np.pi * week_fraction).astype(np.float32),
    ]


@dataclass(frozen=True)
class Serving:
    """How the network runs: chosen once at start from the settings."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool = False  # autocast the forward pass to bfloat16
    compile: bool = False  # torch.compile the network (off by default: unmeasured here)
    # The serving forward (network.ServingTFT, with the fused attention); False runs the
    # library's own forward with only the interpolation swapped, as before (benches).
    fused: bool = True
    # Windows per forward pass; a larger batch is run in passes of this many (None: in one).
    # The worker's batch is large so that a backlog coalesces to one window per server,
    # but on a CPU the forward runs faster in passes of 64 windows (448 series), whose
    # working set stays in cache, and needs a third of the memory (BENCHMARKS.md).
    chunk_windows: int | None = None


def serving_network(network: nn.Module, serving: Serving) -> nn.Module:
    """A copy of ``network`` for inference; the loaded one stays the library's own."""
    served = copy.deepcopy(network)
    swap_interpolation(served)
    if serving.fused:
        served = ServingTFT(served) if supports(served) else served
        swap_attention(served)
    if serving.bf16:
        keep_recurrent_fp32(served)
    served = served.to(serving.device).eval()
    if serving.compile:
        served = torch.compile(served, dynamic=True)  # type: ignore[assignment]
    return served


class DirectPath:
    def __init__(self, model: LoadedModel, serving: Serving | None = None) -> None:
        self.model = model
        self.serving = serving or Serving()
        self.network = serving_network(model.network, self.serving)
        self.staging = HostStaging(self.serving.device)
        config = model.config
        template = template_dataset(config, model.vocabulary)
        self.reals = list(template.reals)
        self.categoricals = list(template.flat_categoricals)
        encoders = model.vocabulary.encoders()
        self._codes = {name: encoders[name] for name in self.categoricals}
        self.max_encoder = config.max_encoder_length
        self.min_encoder = config.min_encoder_length
        self.horizon = config.horizon
        self.quantile_order = np.argsort(config.quantiles)
        self.spec = config.inputs
        self.scale_floor = np.float32(config.scale_floor)

    def _log_rows(self, metrics: Sequence[str]) -> np.ndarray:
        """Which rows are in log1p model units."""
        return np.isin(np.asarray(metrics), list(self.spec.log1p_metrics))

    def _category_codes(self, name: str, values: Sequence[str]) -> np.ndarray:
        return np.asarray(self._codes[name].transform(np.asarray(values)), dtype=np.int64)

    def encode_series(
        self,
        values: np.ndarray,  # (n, steps) float, NaN for gaps, last column = last step
        end_seconds: np.ndarray,  # (n,) epoch seconds where the forecast starts
        step_seconds: int,
        metrics: Sequence[str],
        profiles: Sequence[str],
    ) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
        """The mask of the series with enough history, and the network's inputs for those."""
        values = values[:, -self.max_encoder :]
        logged = self._log_rows(metrics)
        if logged.any():
            values = np.where(logged[:, None], np.log1p(np.maximum(values, 0.0)), values)
        steps = values.shape[1]
        finite = np.isfinite(values)
        seen = finite.any(axis=1)
        first = np.where(seen, finite.argmax(axis=1), steps)
        lengths = steps - first
        ready = lengths >= self.min_encoder
        if not ready.any():
            return ready, None
        rows = np.flatnonzero(ready)
        x, first, lengths = values[rows], first[rows], lengths[rows]
        # Carry observations forward over gaps, as series_frame does (leading gaps are
        # left NaN and lie outside each encoder).
        x = carry_forward(x)
        # Left-align each encoder (the library pads at the end), zeros beyond its length.
        # As the library's collate does: pad to the longest encoder of this batch, no
        # further; the network takes the encoder length from the tensor's width.
        width = int(lengths.max())
        k = np.arange(width)
        source = np.minimum(first[:, None] + k, steps - 1)
        valid = k[None, :] < lengths[:, None]
        encoder = np.where(valid, np.take_along_axis(x, source, axis=1), 0.0).astype(np.float32)
        count = lengths.astype(np.float32)
        center = encoder.sum(axis=1) / count
        spread = np.where(valid, encoder - center[:, None], 0.0)
        scale = np.sqrt((spread**2).sum(axis=1) / np.maximum(count - 1, 1)) + _EPS
        center = center.astype(np.float32)
        scale = np.maximum(scale.astype(np.float32), self.scale_floor)
        # Calendar covariates of every encoder and decoder step.
        ends = end_seconds[rows].astype(np.int64)
        enc_seconds = ends[:, None] - (lengths[:, None] - k[None, :]) * step_seconds
        dec_seconds = ends[:, None] + np.arange(self.horizon)[None, :] * step_seconds
        enc_cont = self._reals(enc_seconds, (k[None, :] - lengths[:, None]) / self.max_encoder,
                               (encoder - center[:, None]) / scale[:, None],
                               np.zeros(encoder.shape, dtype=np.float32))
        enc_cont[~valid] = 0.0
        dec_relative = np.broadcast_to(np.arange(self.horizon) / self.max_encoder,
                                       dec_seconds.shape)
        dec_cont = self._reals(dec_seconds, dec_relative,
                               np.broadcast_to(-center[:, None] / scale[:, None],
                                               dec_seconds.shape),
                               (self._day_ago(x, first, steps) - center[:, None])
                               / scale[:, None])
        labels = {"metric": metrics, "profile": profiles}
        cats = np.stack([
            self._category_codes(name, [labels[name][r] for r in rows.tolist()])
            for name in self.categoricals
        ], axis=1)
        time_idx = ends // step_seconds
        r = len(rows)
        inputs = {
            "encoder_cat": np.broadcast_to(cats[:, None, :], (r, width, cats.shape[1])),
            "encoder_cont": enc_cont,
            "encoder_target": encoder,
            "encoder_lengths": lengths.astype(np.int64),
            "decoder_cat": np.broadcast_to(cats[:, None, :], (r, self.horizon, cats.shape[1])),
            "decoder_cont": dec_cont,
            "decoder_target": np.zeros((r, self.horizon), dtype=np.float32),
            "decoder_lengths": np.full(r, self.horizon, dtype=np.int64),
            "decoder_time_idx": time_idx[:, None] + np.arange(self.horizon, dtype=np.int64),
            "groups": np.zeros((r, 1), dtype=np.int64),
            "target_scale": np.stack([center, scale], axis=1),
        }
        return ready, inputs

    def _day_ago(self, x: np.ndarray, first: np.ndarray, steps: int) -> np.ndarray:
        """Each decoder step's value one day earlier, ``features.day_ago``'s rule on the
        carried-forward window ``x``: the series' first value where it is younger."""
        source = steps - DAY_LAG + np.arange(self.horizon)[None, :]
        source = np.maximum(source, first[:, None])
        return np.take_along_axis(x, np.minimum(source, steps - 1), axis=1).astype(np.float32)

    def predict_series(self, values: np.ndarray, end_seconds: np.ndarray, step_seconds: int,
                       metrics: Sequence[str], profiles: Sequence[str],
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Quantiles ``(n, q, horizon)`` and a mask of the series that had enough history
        (the arguments as ``encode_series`` takes them)."""
        ready, inputs = self.encode_series(values, end_seconds, step_seconds, metrics, profiles)
        out = np.full((len(values), len(self.quantile_order), self.horizon), np.nan,
                      dtype=np.float32)
        if inputs is not None:
            prediction = self.forward(inputs)  # (r, horizon, q)
            out[ready] = np.sort(prediction.transpose(0, 2, 1)[:, self.quantile_order], axis=1)
            logged = self._log_rows(metrics) & ready
            out[logged] = np.expm1(out[logged])
        return out, ready

    def forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """One forward pass on the serving device; quantiles ``(r, horizon, q)`` as float32.

        The network is given an identity target scale and its standardised output is
        put back into metric units here, in fp32: under bf16 autocast the library's own
        ``prediction * scale + center`` would round a level of 90 % to the nearest 0.5.
        """
        target_scale = inputs["target_scale"]
        identity = np.broadcast_to(np.array([0.0, 1.0], dtype=np.float32), target_scale.shape)
        x = self.staging.to_device({**inputs, "target_scale": identity})
        device = self.serving.device
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                    enabled=self.serving.bf16):
            standardised = self.network(x)["prediction"]
        prediction = self.staging.to_host(standardised)
        return prediction * target_scale[:, None, 1:2] + target_scale[:, None, 0:1]

    def _reals(self, seconds: np.ndarray, relative: np.ndarray, value: np.ndarray,
               yesterday: np.ndarray) -> np.ndarray:
        columns = dict(zip(COVARIATES, calendar_from_epoch(seconds), strict=True))
        columns["relative_time_idx"] = np.asarray(relative, dtype=np.float32)
        columns["value"] = np.asarray(value, dtype=np.float32)
        columns[YESTERDAY] = np.asarray(yesterday, dtype=np.float32)
        return np.ascontiguousarray(np.stack([columns[name] for name in self.reals], axis=-1),
                                    dtype=np.float32)

    def predict(self, batch: Batch) -> np.ndarray:
        """The worker's ``Forecaster.predict``: ``(windows, metrics, 3, horizon)``, in passes of
        at most ``Serving.chunk_windows`` windows."""
        chunk = self.serving.chunk_windows
        b = len(batch.windows)
        if chunk is None or b <= chunk:
            return self._predict(batch)
        return np.concatenate([
            self._predict(Batch(batch.windows[i:i + chunk], batch.values[i:i + chunk]))
            for i in range(0, b, chunk)])

    def _predict(self, batch: Batch) -> np.ndarray:
        windows = batch.windows
        b, m, steps = batch.values.shape
        ends = np.array([w.end.timestamp() for w in windows], dtype=np.int64)
        quantiles, _ = self.predict_series(
            batch.values.reshape(b * m, steps),
            np.repeat(ends, m),
            windows[0].step_seconds if windows else 300,
            list(METRICS) * b,
            [profile_for(w.server_id) for w in windows for _ in METRICS],
        )
        out = quantiles.reshape(b, m, -1, self.horizon)
        for j, name in enumerate(METRICS):
            np.clip(out[:, j], *METRIC_BOUNDS[name], out=out[:, j])
        return out
