"""From a batch of context windows to forecasts and alert events (no Kafka here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from inference_worker.alerts import AlertTracker
from inference_worker.batcher import map_batch
from inference_worker.breach import BreachCalibration
from inference_worker.forecaster import QUANTILES, Batch, Forecaster
from inference_worker.scoring import Outlook, assess
from schemas.alert import AlertEvent
from schemas.common import METRICS
from schemas.context_window import ContextWindow
from schemas.forecast import BreachOutlook, Forecast, MetricForecast


@dataclass(frozen=True)
class Scored:
    forecast: Forecast
    alert: AlertEvent | None


def last_values(window: ContextWindow) -> dict[str, float | None]:
    """The most recent observed value of each metric in the window."""
    latest: dict[str, float | None] = {}
    for name in METRICS:
        observed = [v for v in window.values[name] if v is not None]
        latest[name] = observed[-1] if observed else None
    return latest


def _metric_forecasts(quantiles: np.ndarray) -> dict[str, MetricForecast]:
    """``quantiles[m, q, h]`` as payload fields, rounded; metrics without history are left out."""
    out = {}
    for m, name in enumerate(METRICS):
        if not np.isfinite(quantiles[m]).all():
            continue
        rounded = np.round(quantiles[m].astype(np.float64), 4).tolist()
        out[name] = MetricForecast(**dict(zip(QUANTILES, rounded, strict=True)))
    return out


def forecast_batch(
    forecaster: Forecaster, windows: Sequence[ContextWindow]
) -> list[np.ndarray | None]:
    """Quantiles per window, ``None`` for windows still warming up (too short a context)."""
    ready = [i for i, w in enumerate(windows) if w.observed_steps >= forecaster.min_context_steps]
    out: list[np.ndarray | None] = [None] * len(windows)
    if ready:
        predicted = map_batch(
            lambda ws: list(forecaster.predict(Batch.of(ws))), [windows[i] for i in ready]
        )
        for i, quantiles in zip(ready, predicted, strict=True):
            out[i] = quantiles
    return out


def _outlooks(outlooks: dict[str, Outlook]) -> dict[str, BreachOutlook]:
    return {
        name: BreachOutlook(threshold=o.threshold, p_30m=round(o.p_30m, 4),
                            p_8h=round(o.p_8h, 4), breach_at=o.breach_at)
        for name, o in outlooks.items()
    }


def score_batch(
    forecaster: Forecaster,
    windows: Sequence[ContextWindow],
    tracker: AlertTracker,
    issued_at: datetime,
    calibration: BreachCalibration | None = None,
) -> list[Scored]:
    """Forecast, score and alert one batch; ``calibration`` is the model's (identity if none)."""
    results = []
    for window, quantiles in zip(windows, forecast_batch(forecaster, windows), strict=True):
        latest = last_values(window)
        risk = assess(
            server_id=window.server_id, profile=window.profile, last_values=latest,
            quantiles=quantiles, start=window.end, step_seconds=window.step_seconds,
            calibration=calibration,
        )
        forecast = Forecast(
            forecast_id=Forecast.make_id(window.server_id, window.end),
            server_id=window.server_id,
            profile=window.profile,
            model_version=forecaster.version,
            issued_at=issued_at,
            start=window.end,
            step_seconds=window.step_seconds,
            horizon_steps=forecaster.horizon_steps,
            status="ok" if quantiles is not None else "warming_up",
            context_steps=window.observed_steps,
            min_context_steps=forecaster.min_context_steps,
            last_values=latest,
            quantiles=_metric_forecasts(quantiles) if quantiles is not None else {},
            risk_score=risk.score,
            severity=risk.severity,
            risk_metric=risk.metric,
            predicted_breach_at=risk.predicted_breach_at,
            breach=_outlooks(risk.outlooks),
            p_incident_30m=risk.p_incident_30m,
            p_incident_8h=risk.p_incident_8h,
        )
        alert = tracker.update(
            server_id=window.server_id, profile=window.profile, risk=risk,
            window_end=window.end, issued_at=issued_at, model_version=forecaster.version,
        )
        results.append(Scored(forecast, alert))
    return results
