"""Probability that a metric crosses a threshold, from a p10/p50/p90 forecast.

Per step, the three quantiles are read as a split normal: below the median a
normal half with ``sigma_lo = (p50 - p10) / z90``, above it one with
``sigma_hi = (p90 - p50) / z90`` (``z90 = 1.2816``, the standard normal's
90th percentile). Each half holds half the mass, so the distribution passes
exactly through all three quantiles whatever their asymmetry. A zero width
is a point mass: the exceedance is then a step function of the threshold.
Quantiles that come out of order are sorted first (the model does not
promise monotone quantiles); a NaN quantile gives a NaN exceedance.

Crossing *within* a window is another matter: the forecast gives marginals
per step, not how steps move together. The probability that any step in the
window reaches the threshold lies between ``max_t P(Y_t >= thr)`` (steps
perfectly dependent: one shared error drives them all) and ``min(1, sum_t
P(Y_t >= thr))`` (the union bound). Forecast errors of neighbouring steps
are strongly correlated, so the lower bound is the closer one, and it is
the raw score used here: the largest per-step exceedance in the window.
It is not a calibrated probability. ``Calibration`` maps it to one: a
monotone piecewise-linear curve, fitted by isotonic regression on (raw
score, crossed or not) pairs from a backtest, stored as JSON knots, the
identity until fitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Z90 = 1.2815515655446004
WITHIN_30_MIN = 6  # steps of 5 minutes
WITHIN_8_H = 96


#: Numerical Recipes' erfc fit (``erfcc``), highest power first.
_ERFC_COEFFS = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)


def _erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function, relative error below 1.2e-7 (numpy has none)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in _ERFC_COEFFS:
        poly = poly * t + c
    r = t * np.exp(-z * z + poly)
    return np.where(x >= 0, r, 2.0 - r)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * _erfc(-np.asarray(z, dtype=np.float64) / np.sqrt(2.0))


def exceedance(
    p10: np.ndarray, p50: np.ndarray, p90: np.ndarray, threshold: float | np.ndarray
) -> np.ndarray:
    """``P(Y_t >= threshold)`` per step, shape of the (broadcast) inputs ``(..., horizon)``.

    ``threshold`` is a scalar or one value per series (shape ``(...,)``).
    """
    q = np.sort(np.stack(np.broadcast_arrays(p10, p50, p90)).astype(np.float64), axis=0)
    lo, mid, hi = q[0], q[1], q[2]
    thr = np.asarray(threshold, dtype=np.float64)
    thr = np.broadcast_to(thr[..., None] if mid.ndim else thr, mid.shape)
    s_lo = (mid - lo) / Z90
    s_hi = (hi - mid) / Z90
    with np.errstate(divide="ignore", invalid="ignore"):
        # Threshold at or below the median: the lower half decides (a point mass: 1).
        below = np.where(s_lo > 0, normal_cdf((mid - thr) / s_lo), 1.0)
        # Above the median: the upper half's tail (a point mass: 0).
        above = np.where(s_hi > 0, 1.0 - normal_cdf((thr - mid) / s_hi), 0.0)
    out = np.where(thr <= mid, below, above)
    nan = np.isnan(q).any(axis=0) | np.isnan(thr)
    return np.where(nan, np.nan, np.clip(out, 0.0, 1.0))


def crossing_score(exceed: np.ndarray, steps: int) -> np.ndarray:
    """Raw score of crossing within the first ``steps``: the largest exceedance there."""
    window = np.asarray(exceed, dtype=np.float64)[..., :steps]
    return np.asarray(np.fmax.reduce(window, axis=-1))  # NaN only where all are NaN


def crossing_bounds(exceed: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower (perfectly dependent) and upper (union) bounds of crossing within ``steps``."""
    window = np.asarray(exceed, dtype=np.float64)[..., :steps]
    return crossing_score(window, steps), np.minimum(1.0, np.nansum(window, axis=-1))


def median_crossing_steps(p50: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """First step (0 = the first forecast step) where p50 >= threshold; -1 where none."""
    reached = (
        np.asarray(p50, dtype=np.float64) >= np.asarray(threshold, dtype=np.float64)[..., None]
    )
    return np.where(reached.any(axis=-1), reached.argmax(axis=-1), -1)


def median_crossing_step(p50: np.ndarray, threshold: float) -> int | None:
    """For one series: the first step where p50 >= threshold, or None."""
    step = int(median_crossing_steps(np.asarray(p50)[None, :], threshold)[0])
    return None if step < 0 else step


@dataclass(frozen=True)
class Calibration:
    """Raw crossing score to probability: monotone, piecewise linear, flat outside the knots."""

    x: tuple[float, ...] = (0.0, 1.0)
    y: tuple[float, ...] = (0.0, 1.0)

    def __post_init__(self) -> None:
        x = np.asarray(self.x, dtype=np.float64)
        y = np.asarray(self.y, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
            raise ValueError("calibration needs as many x as y knots, at least one")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("calibration knots must be finite")
        if np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0):
            raise ValueError("calibration x must increase strictly and y must not decrease")
        if y[0] < 0 or y[-1] > 1:
            raise ValueError("calibrated probabilities must lie in [0, 1]")
        object.__setattr__(self, "x", tuple(float(v) for v in x))
        object.__setattr__(self, "y", tuple(float(v) for v in y))

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        return np.where(np.isnan(s), np.nan, np.interp(s, self.x, self.y))

    def to_json(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Calibration:
        raw = json.loads(data) if isinstance(data, str) else data
        return cls(x=tuple(raw["x"]), y=tuple(raw["y"]))


def pool_adjacent_violators(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    means: list[float] = []
    mass: list[float] = []
    sizes: list[int] = []
    for value, weight in zip(v, w, strict=True):
        means.append(float(value))
        mass.append(float(weight))
        sizes.append(1)
        # Merge backwards while the last two blocks are out of order.
        while len(means) > 1 and means[-2] > means[-1]:
            total = mass[-2] + mass[-1]
            means[-2] = (means[-2] * mass[-2] + means[-1] * mass[-1]) / total
            mass[-2] = total
            sizes[-2] += sizes[-1]
            del means[-1], mass[-1], sizes[-1]
    return np.repeat(np.array(means), sizes)


def fit_isotonic(scores: np.ndarray, outcomes: np.ndarray, bins: int | None = 20) -> Calibration:
    """Fit a ``Calibration`` to (raw score, outcome 0/1) pairs by isotonic regression.

    Pairs are first pooled by equal score, then (when ``bins`` is set and
    there are more distinct scores) into ``bins`` groups of about equal count,
    so the stored curve stays small; each group is a knot at its mean score.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    o = np.asarray(outcomes, dtype=np.float64).ravel()
    if s.shape != o.shape:
        raise ValueError("scores and outcomes must have one length")
    keep = ~(np.isnan(s) | np.isnan(o))
    s, o = s[keep], o[keep]
    if len(s) == 0:
        raise ValueError("no (score, outcome) pairs to fit")
    distinct, group = np.unique(s, return_inverse=True)
    count = np.bincount(group).astype(np.float64)
    hits = np.bincount(group, weights=o).astype(np.float64)
    if bins is not None and len(distinct) > bins:
        before = np.cumsum(count) - count
        bin_of = np.minimum((before / count.sum() * bins).astype(np.int64), bins - 1)
        _, dense = np.unique(bin_of, return_inverse=True)
        x_sum = np.bincount(dense, weights=distinct * count)
        count = np.bincount(dense, weights=count).astype(np.float64)
        hits = np.bincount(dense, weights=hits).astype(np.float64)
        distinct = x_sum / count
    fitted = pool_adjacent_violators(hits / count, count)
    return Calibration(x=tuple(distinct), y=tuple(np.clip(fitted, 0.0, 1.0)))


@dataclass(frozen=True)
class Breach:
    exceedance: np.ndarray  # (..., horizon): P(Y_t >= threshold)
    score_30_min: np.ndarray  # (...,): raw score, crossing within 30 min
    score_8_h: np.ndarray
    within_30_min: np.ndarray  # (...,): calibrated probability
    within_8_h: np.ndarray
    median_step: np.ndarray  # (...,): first step with p50 >= threshold, -1 where none


def breach(
    p10: np.ndarray,
    p50: np.ndarray,
    p90: np.ndarray,
    threshold: float | np.ndarray,
    calibration: BreachCalibration | None = None,
) -> Breach:
    """Exceedance per step, crossing within 30 min and 8 h (each through its own curve of
    ``calibration``; the identity by default), and the median crossing step."""
    cal = calibration or BreachCalibration()
    exceed = exceedance(p10, p50, p90, threshold)
    soon, later = crossing_score(exceed, WITHIN_30_MIN), crossing_score(exceed, WITHIN_8_H)
    return Breach(
        exceedance=exceed,
        score_30_min=soon,
        score_8_h=later,
        within_30_min=cal.p_30m(soon),
        within_8_h=cal.p_8h(later),
        median_step=median_crossing_steps(np.asarray(p50, dtype=np.float64), threshold),
    )


#: Beside a model's weights: the calibration of its crossing scores (optional).
CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class BreachCalibration:
    """The two calibrations the worker applies: crossing within 30 minutes and within 8 h."""

    p_30m: Calibration = Calibration()
    p_8h: Calibration = Calibration()

    def to_json(self) -> dict[str, dict[str, list[float]]]:
        return {"p_30m": self.p_30m.to_json(), "p_8h": self.p_8h.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> BreachCalibration:
        raw = json.loads(data) if isinstance(data, str) else data
        return cls(p_30m=Calibration.from_json(raw["p_30m"]),
                   p_8h=Calibration.from_json(raw["p_8h"]))


def load_calibration(model_dir: Path | None) -> BreachCalibration:
    """The model folder's ``calibration.json``, or the identity when it has none.

    A file that is there but unreadable is an error, not a silent identity: the worker's
    probabilities would change meaning without anyone noticing.
    """
    if model_dir is None or not (model_dir / CALIBRATION_FILE).is_file():
        return BreachCalibration()
    path = model_dir / CALIBRATION_FILE
    try:
        return BreachCalibration.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a breach calibration ({exc})") from exc
