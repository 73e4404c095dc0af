"""Probabilities of an incident, read from a forecast's quantiles (pure numpy, no Kafka).

An *incident* is a metric crossing its profile's critical threshold (``schemas/incident.py``).
For one
forecast step the p10/p50/p90 quantiles give three points of the value's
distribution; between them (and linearly beyond them) the cumulative
probability is interpolated, so the chance of being above the critical level
at that step is ``1 - F(critical)``. A server's chance within a horizon is the
highest of its steps and metrics (a server that is already past critical counts
as certain); the fleet's is ``1 - prod(1 - p_server)``, as if servers failed
independently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

import numpy as np

from schemas.forecast import Forecast
from schemas.incident import is_incident
from schemas.thresholds import thresholds_for

#: The two horizons the overview reports.
HORIZONS: tuple[timedelta, timedelta] = (timedelta(minutes=30), timedelta(hours=8))
_EPS = 1e-9


def exceedance(quantiles: np.ndarray, level: float | np.ndarray) -> np.ndarray:
    """P(value > level) per step from ``quantiles[..., 3, steps]`` (p10, p50, p90)."""
    p10, p50, p90 = quantiles[..., 0, :], quantiles[..., 1, :], quantiles[..., 2, :]
    level = np.asarray(level, dtype=np.float64)[..., None] if np.ndim(level) else level
    below = 0.5 - (p50 - level) * 0.4 / np.maximum(p50 - p10, _EPS)
    above = 0.5 + (level - p50) * 0.4 / np.maximum(p90 - p50, _EPS)
    cdf = np.where(level <= p50, below, above)
    return np.clip(1.0 - cdf, 0.0, 1.0)


def server_probabilities(
    forecast: Forecast, horizons: Sequence[timedelta] = HORIZONS
) -> tuple[float, ...]:
    """The server's probability of an incident within each horizon."""
    limits = thresholds_for(forecast.profile)
    now = 0.0
    for name, value in forecast.last_values.items():
        if value is not None and name in limits and is_incident(forecast.profile, name, value):
            now = 1.0
    names = [name for name in forecast.quantiles if name in limits]
    if now == 1.0 or not names:
        return tuple(now for _ in horizons)
    stacked = np.array(
        [[forecast.quantiles[n].p10, forecast.quantiles[n].p50, forecast.quantiles[n].p90]
         for n in names],
        dtype=np.float64,
    )  # (metrics, 3, steps)
    critical = np.array([limits[n].critical for n in names])
    per_step = exceedance(stacked, critical).max(axis=0)  # worst metric at each step
    result = []
    for horizon in horizons:
        steps = max(1, min(per_step.size, round(horizon.total_seconds() / forecast.step_seconds)))
        result.append(float(per_step[:steps].max()))
    return tuple(result)


def fleet_probability(probabilities: Iterable[float]) -> float:
    """At least one incident in the fleet: ``1 - prod(1 - p)``."""
    survive = 1.0
    for p in probabilities:
        survive *= 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - survive


def horizon_label(horizon: timedelta) -> str:
    minutes = round(horizon.total_seconds() / 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def format_probability(p: float) -> str:
    """0.004 -> '<1%', 0.5 -> '50%', 0.9996 -> '>99%'."""
    if p < 0.01:
        return "<1%" if p > 0 else "0%"
    if p > 0.99:
        return ">99%"
    return f"{p:.0%}"

