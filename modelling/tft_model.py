"""The TFT as a backtest model: one series, one origin, p10/p50/p90 for the horizon."""

from __future__ import annotations

import numpy as np

from inference_worker.tft.artifacts import LoadedModel
from inference_worker.tft.direct import DirectPath
from modelling.backtest import SeriesData

#: NAB series carry other quantities than fleetcast's; each is fed to the model as the
#: fleetcast metric whose dynamics are closest (a rate of bytes or requests behaves like
#: network traffic). The model is scale-free, so units do not matter.
METRIC_FOR_NAB = {
    "cpu_pct": "cpu_pct",
    "net_in": "net_in_mbps",
    "net_out": "net_out_mbps",
    "disk_write_bytes": "net_out_mbps",
    "request_count": "net_in_mbps",
    "grok_asg_anomaly": "cpu_pct",
}


class TFTBacktestModel:
    has_quantiles = True
    wants_timestamps = True
    wants_series = True

    def __init__(self, model: LoadedModel, *, name: str = "tft", description: str = "") -> None:
        self.name = name
        self.description = description or f"Temporal Fusion Transformer {model.version}"
        self._path = DirectPath(model)
        self._horizon = model.config.horizon

    def __call__(self, history: np.ndarray, horizon: int, *,
                 timestamps: np.ndarray | None = None,
                 series: SeriesData | None = None) -> np.ndarray:
        if timestamps is None or series is None:
            raise TypeError("the TFT needs the history's timestamps and its series")
        if horizon != self._horizon:
            raise ValueError(f"the model forecasts {self._horizon} steps, not {horizon}")
        seconds = timestamps.astype("datetime64[s]").astype(np.int64)
        step = int(seconds[-1] - seconds[-2]) if len(seconds) > 1 else 300
        metric = METRIC_FOR_NAB.get(series.metric, series.metric)
        quantiles, ready = self._path.predict_series(
            history[None, :].astype(np.float64), np.array([seconds[-1] + step]), step,
            [metric], [series.name],
        )
        if not ready[0]:
            # Too little history for the model: say so with the last value, as the worker's
            # warming-up servers would get no forecast at all.
            last = history[np.isfinite(history)][-1]
            return np.full((3, horizon), last)
        return quantiles[0].astype(np.float64)
