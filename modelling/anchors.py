"""Anchor warning rules: what a forecaster has to beat.

Each rule looks at one metric of one server, a (steps,) array on the
5-minute grid (NaN: no reading), and answers at each origin ``t`` whether
its alert is open, seeing only steps ``< t`` (the origin is the start of
step ``t``). All are vectorised over the origins.

- ``static_90``: the classic threshold alert, open when the last observed
  value is at or above 90 (the last reading however old: a plain threshold
  alert does not know a reading is stale).
- ``predict_linear``: Prometheus' ``predict_linear(v[1h], 2h) >= 95``: a
  least-squares line through the observed steps of the last hour (12
  steps), read 2 h (24 steps) after the last step. Needs two readings.
- ``seasonal_naive``: "tomorrow is today": open when the same 8 h a day
  earlier (steps ``t-288 .. t-288+95``) reached 95 anywhere. It sees daily
  jobs coming.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from schemas.grid import HORIZON_STEPS, STEPS_PER_DAY

Rule = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _windows(values: np.ndarray, origins: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(origins, offsets) values at ``t + offset``; NaN outside ``[0, t)``."""
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(origins, dtype=np.int64)[:, None]
    idx = t + np.asarray(offsets, dtype=np.int64)[None, :]
    seen = (idx >= 0) & (idx < t) & (idx < len(v))
    return np.where(seen, v[np.clip(idx, 0, max(len(v) - 1, 0))], np.nan)


def static_90(values: np.ndarray, origins: np.ndarray, level: float = 90.0) -> np.ndarray:
    """Open when the last observed value before the origin is at or above ``level``."""
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(origins, dtype=np.int64)
    if len(v) == 0:
        return np.zeros(len(t), dtype=bool)
    last = np.maximum.accumulate(np.where(np.isnan(v), -1, np.arange(len(v))))
    before = np.where(t >= 1, last[np.clip(t - 1, 0, len(v) - 1)], -1)
    return (before >= 0) & (v[np.maximum(before, 0)] >= level)


def predict_linear(
    values: np.ndarray,
    origins: np.ndarray,
    level: float = 95.0,
    window: int = 12,
    ahead: int = 24,
) -> np.ndarray:
    """Open when the last hour's least-squares line reaches ``level`` 2 h after the last step."""
    x = np.arange(-window, 0, dtype=np.float64)  # step offsets from the origin
    y = _windows(values, origins, np.arange(-window, 0))
    seen = ~np.isnan(y)
    n = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_mean = (seen * x).sum(axis=1) / n
        y_mean = np.nansum(y, axis=1) / n
        dx = np.where(seen, x[None, :] - x_mean[:, None], 0.0)
        sxx = (dx**2).sum(axis=1)
        slope = (dx * np.nan_to_num(y - y_mean[:, None])).sum(axis=1) / sxx
        predicted = y_mean + slope * (-1 + ahead - x_mean)
    return (n >= 2) & (sxx > 0) & (predicted >= level)


def seasonal_naive(
    values: np.ndarray,
    origins: np.ndarray,
    level: float = 95.0,
    period: int = STEPS_PER_DAY,
    horizon: int = HORIZON_STEPS,
) -> np.ndarray:
    """Open when the next ``horizon`` steps one ``period`` ago reached ``level``."""
    y = _windows(values, origins, np.arange(-period, -period + horizon))
    return np.asarray((y >= level).any(axis=1))  # NaN compares False


#: The anchors by the names reports use.
RULES: dict[str, Rule] = {
    "static_90": static_90,
    "predict_linear": predict_linear,
    "seasonal_naive": seasonal_naive,
}
