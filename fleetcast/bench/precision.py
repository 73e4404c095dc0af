"""``fleetcast bench bf16``: how far bf16 autocast moves the forecasts from fp32.

On CUDA the worker runs under bf16 autocast by default; bf16 keeps 8 bits of
mantissa, so the question is whether the forecasts, and their error against
what the servers really did, change enough to matter. CPU autocast runs the
same bf16 kernels' arithmetic, so this is measured here without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetcast.bench.fleet import Pool
from inference_worker.forecaster import Batch
from inference_worker.tft.artifacts import LoadedModel
from inference_worker.tft.direct import Serving
from inference_worker.tft.predict import TFTForecaster
from modelling.metrics import mase, seasonal_scale


@dataclass(frozen=True)
class PrecisionFigures:
    device: str
    servers: int
    series: int
    max_abs_diff_scaled: float  # largest |bf16 - fp32| over all quantiles, in MASE scale units
    mean_abs_diff_scaled: float
    mase_fp32: float
    mase_bf16: float

    def to_json(self) -> dict[str, object]:
        return {k: round(v, 5) if isinstance(v, float) else v for k, v in vars(self).items()}


def bench_bf16(model: LoadedModel, serving: Serving, servers: int, *, batch: int,
               pool: Pool | None = None) -> PrecisionFigures:
    pool = pool or Pool()
    fp32 = TFTForecaster(model, serving=Serving(device=serving.device, bf16=False))
    bf16 = TFTForecaster(model, serving=Serving(device=serving.device, bf16=True))
    diffs, errors32, errors16 = [], [], []
    for start, windows in zip(range(0, servers, batch), pool.batches(servers, batch),
                              strict=True):
        data = Batch.of(windows)
        exact, rounded = fp32.predict(data), bf16.predict(data)
        for b in range(len(windows)):
            actual = pool.actual(start + b)
            for m in range(data.values.shape[1]):
                if not np.isfinite(exact[b, m]).all():
                    continue
                scale = seasonal_scale(data.values[b, m])
                diffs.append(np.abs(rounded[b, m] - exact[b, m]).ravel() / scale)
                errors32.append(mase(actual[m], exact[b, m, 1], scale))
                errors16.append(mase(actual[m], rounded[b, m, 1], scale))
    every = np.concatenate(diffs)
    return PrecisionFigures(
        device=serving.device.type, servers=servers, series=len(errors32),
        max_abs_diff_scaled=float(every.max()), mean_abs_diff_scaled=float(every.mean()),
        mase_fp32=float(np.nanmean(errors32)), mase_bf16=float(np.nanmean(errors16)),
    )
