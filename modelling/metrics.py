"""Scale-free forecast metrics, pure numpy.

Every error is divided by the same per-series *scale*: the mean absolute change of the series
over one season (a day, 288 five-minute steps) in its training part, i.e. the in-sample error of
the seasonal naive forecast (Hyndman & Koehler's MASE). A figure of 1.0 means "as wrong as
yesterday's value at the same time of day was in training"; figures can be averaged over series
of different units (CPU percent, bytes, request counts).

Steps where the actual value is NaN (a gap) are skipped by every metric. A NaN forecast at an
observed step is not skipped: the metric comes out NaN, so a broken model cannot hide.
With no observed actual value at all the metrics are NaN (nothing to score).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from schemas.grid import STEPS_PER_DAY

#: Smallest scale :func:`seasonal_scale` returns. A training part that never changes has a true
#: scale of 0 and would make MASE infinite (or NaN for a perfect forecast). With this floor a
#: perfect forecast of a constant series scores 0 and any error on it scores huge (error / 1e-9):
#: visibly degenerate, but finite, so one such series cannot turn an average into inf or NaN.
SCALE_EPSILON = 1e-9


def _as_float(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def seasonal_scale(train: ArrayLike, season: int = STEPS_PER_DAY) -> float:
    """Mean absolute difference between ``y[t]`` and ``y[t - season]`` over ``train``.

    Pairs with a NaN on either side are ignored. When the series is shorter than
    ``season + 1`` (no complete pair) or has no observed pair at that lag, the lag-1 difference
    (the naive forecast's error) is used instead. Never returns less than ``SCALE_EPSILON``.
    """
    y = _as_float(train).ravel()
    for lag in (season, 1):
        if lag < 1 or y.size <= lag:
            continue
        diff = np.abs(y[lag:] - y[:-lag])
        diff = diff[np.isfinite(diff)]
        if diff.size:
            return max(float(diff.mean()), SCALE_EPSILON)
    return SCALE_EPSILON


def _observed(actual: np.ndarray) -> np.ndarray:
    return np.isfinite(actual)


def mase(actual: ArrayLike, p50: ArrayLike, scale: float) -> float:
    """Mean absolute error of the median forecast over observed steps, divided by ``scale``."""
    a, f = _as_float(actual), _as_float(p50)
    ok = _observed(a)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(a[ok] - f[ok])) / scale)


def pinball(actual: ArrayLike, quantiles: Mapping[float, ArrayLike], scale: float = 1.0) -> float:
    """Scaled pinball loss: the quantile loss averaged over quantile levels and observed steps,
    divided by ``scale``.

    For level ``q`` and forecast ``f`` the loss at a step is ``q * (y - f)`` when ``y >= f`` and
    ``(1 - q) * (f - y)`` otherwise. With ``scale = 1`` this is the plain mean pinball loss in the
    series' units; the backtest passes :func:`seasonal_scale` so figures compare across series
    (for a single median forecast the scaled pinball is half the MASE).
    """
    if not quantiles:
        raise ValueError("pinball needs at least one quantile")
    a = _as_float(actual)
    ok = _observed(a)
    if not ok.any():
        return float("nan")
    losses = []
    for q, forecast in quantiles.items():
        if not 0.0 < q < 1.0:
            raise ValueError(f"quantile level {q} is not inside (0, 1)")
        diff = a[ok] - _as_float(forecast)[ok]
        losses.append(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))
    return float(np.mean(losses) / scale)


def coverage(actual: ArrayLike, p10: ArrayLike, p90: ArrayLike) -> float:
    """Share of observed actual values inside ``[p10, p90]`` (ideal: 0.8)."""
    a = _as_float(actual)
    ok = _observed(a)
    if not ok.any():
        return float("nan")
    lo, hi = _as_float(p10)[ok], _as_float(p90)[ok]
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        return float("nan")
    inside = (a[ok] >= lo) & (a[ok] <= hi)
    return float(inside.mean())
