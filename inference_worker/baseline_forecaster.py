"""A seasonal-naive-plus-trend baseline forecaster, vectorised over the batch.

p50 for step ``h`` is the value 24 h before that step, shifted by how far the
recent level has moved since then, plus the recent 2-hour trend in excess of
yesterday's trend at the same hour. With less context than a day plus those
2 hours it is the recent level plus the damped trend. The band widens with the
square root of the horizon from the spread of step-to-step changes. It stands in
for the TFT behind the same interface and is one of the baselines the TFT must beat.
"""

from __future__ import annotations

import warnings

import numpy as np

from inference_worker.forecaster import Batch, carry_forward
from schemas.common import METRIC_BOUNDS, METRICS
from schemas.grid import HORIZON_STEPS, STEPS_PER_DAY

Z90 = 1.2816  # standard normal quantile of 0.9
LEVEL_STEPS = 3  # 15 minutes
TREND_STEPS = 24  # 2 hours


class SeasonalNaiveTrend:
    version = "baseline-snaive-trend-1"

    def __init__(self, horizon_steps: int = HORIZON_STEPS, min_context_steps: int = 36,
                 season_steps: int = STEPS_PER_DAY) -> None:
        self.horizon_steps = horizon_steps
        self.min_context_steps = min_context_steps
        self.season_steps = season_steps

    def predict(self, batch: Batch) -> np.ndarray:
        with warnings.catch_warnings():
            # All-gap series give NaN means by design; they are reported as NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._predict(batch)

    def _predict(self, batch: Batch) -> np.ndarray:
        x = carry_forward(batch.values.astype(np.float64))  # (B, M, T)
        _, _, steps = x.shape
        h = np.arange(1, self.horizon_steps + 1, dtype=np.float64)
        level = np.nanmean(x[..., -LEVEL_STEPS:], axis=-1)
        slope = _slope(x[..., -TREND_STEPS:])
        # Yesterday's level and 2-hour trend must both be in the window, before ``base``.
        seasonal_from = self.season_steps + max(LEVEL_STEPS, TREND_STEPS)
        if steps >= seasonal_from and self.horizon_steps <= self.season_steps:
            base = steps - self.season_steps
            yesterday = x[..., base : base + self.horizon_steps]
            shift = level - np.nanmean(x[..., base - LEVEL_STEPS : base], axis=-1)
            excess = slope - _slope(x[..., base - TREND_STEPS : base])
            has_season = np.isfinite(yesterday).all(axis=-1) & np.isfinite(shift)
            # Damped like the trend-only path: a 2-hour slope says little about hour 8.
            seasonal = yesterday + shift[..., None] + excess[..., None] * _damped(h)
            trend_only = level[..., None] + slope[..., None] * _damped(h)
            p50 = np.where(has_season[..., None], seasonal, trend_only)
        else:
            p50 = level[..., None] + slope[..., None] * _damped(h)
        step_sd = np.nanstd(np.diff(x, axis=-1), axis=-1)
        spread = Z90 * step_sd[..., None] * np.sqrt(np.minimum(h, 48.0))
        out = np.stack([p50 - spread, p50, p50 + spread], axis=2)  # (B, M, 3, H)
        for m, name in enumerate(METRICS):
            low, high = METRIC_BOUNDS[name]
            out[:, m] = np.clip(out[:, m], low, high)
        return out.astype(np.float32)


def _slope(x: np.ndarray) -> np.ndarray:
    """Least-squares slope per step over the last axis, ignoring NaN; 0 with too few points."""
    t = np.arange(x.shape[-1], dtype=np.float64)
    ok = np.isfinite(x)
    n = ok.sum(axis=-1)
    tm = np.where(ok, t, 0).sum(axis=-1) / np.maximum(n, 1)
    xm = np.where(ok, x, 0).sum(axis=-1) / np.maximum(n, 1)
    dt = np.where(ok, t - tm[..., None], 0)
    cov = (dt * np.where(ok, x - xm[..., None], 0)).sum(axis=-1)
    var = (dt * dt).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where((n >= 3) & (var > 0), cov / var, 0.0)
    return slope


def _damped(h: np.ndarray, phi: float = 0.98) -> np.ndarray:
    """Cumulative damped-trend multiplier: sum of phi**k for k = 1..h."""
    return phi * (1 - phi**h) / (1 - phi)
