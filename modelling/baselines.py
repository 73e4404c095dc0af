"""The forecasting interface of the evaluation, and the baselines every learned model must beat.

A model is a callable object::

    model.name: str              # key in the report
    model.has_quantiles: bool    # False: rows p10 and p90 of the output are NaN
    model(history, horizon) -> np.ndarray of shape (3, horizon): p10, p50, p90

``history`` is one series up to the forecast origin (5-minute steps, oldest first, NaN for
gaps); the forecast covers the ``horizon`` steps right after its last step. Models that need
calendar features (the TFT: time of day) set ``wants_timestamps = True`` and accept a keyword
``timestamps``: the ``datetime64`` of every history step (step ``h`` of the forecast is
``timestamps[-1] + h * 5 minutes``). Optional, for the report: ``description: str``.

A model may raise ``ValueError`` for a history without a single observed value; the backtest
never asks for one.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from inference_worker.forecaster import carry_forward
from schemas.grid import STEPS_PER_DAY

Z90 = 1.2815515655446004  # standard normal quantile of 0.9


@runtime_checkable
class Model(Protocol):
    name: str
    has_quantiles: bool

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        """p10, p50, p90 as an array of shape (3, horizon)."""
        ...


def fill_gaps(history: np.ndarray) -> np.ndarray:
    """Forward-fill NaN; leading gaps take the first observed value. Raises if nothing observed."""
    x = np.asarray(history, dtype=np.float64).ravel()
    ok = np.isfinite(x)
    if not ok.any():
        raise ValueError("history has no observed value")
    filled = carry_forward(x)
    first = int(np.argmax(ok))
    filled[:first] = x[first]
    return filled


def point_forecast(p50: np.ndarray) -> np.ndarray:
    """A (3, horizon) output with only the median: NaN rows for p10 and p90."""
    nan = np.full_like(p50, np.nan, dtype=np.float64)
    return np.vstack([nan, np.asarray(p50, dtype=np.float64), nan])


class LastValue:
    """The last observed value, flat over the horizon."""

    name = "last_value"
    has_quantiles = False
    wants_timestamps = False
    description = "Last observed value (gaps forward-filled), repeated over the horizon."

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        x = fill_gaps(history)
        return point_forecast(np.full(horizon, x[-1]))


class SeasonalNaive:
    """The value one season (a day) before each forecast step; last value with less history."""

    name = "seasonal_naive"
    has_quantiles = False
    wants_timestamps = False

    def __init__(self, season: int = STEPS_PER_DAY) -> None:
        self.season = season
        self.description = (
            f"Value {season} steps ({season * 5 / 60:g} h) before each forecast step "
            "(gaps forward-filled); last value when the history is shorter than that."
        )

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        x = fill_gaps(history)
        if x.size < self.season:
            return point_forecast(np.full(horizon, x[-1]))
        last_season = x[-self.season :]
        return point_forecast(last_season[np.arange(horizon) % self.season])


class LinearTrend:
    """Least-squares line over the last ``window`` steps, extrapolated (Prometheus predict_linear).

    Like ``predict_linear`` the line is fitted to the samples present in the window (gaps are
    not filled for the fit); with fewer than 2 samples there it is the last value.
    """

    name = "linear_trend"
    has_quantiles = False
    wants_timestamps = False

    def __init__(self, window: int = 24) -> None:
        self.window = window
        self.description = (
            f"Least-squares line over the last {window} steps ({window * 5 / 60:g} h, observed "
            "samples only), extrapolated like Prometheus predict_linear."
        )

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        x = np.asarray(history, dtype=np.float64).ravel()
        last = fill_gaps(x)[-1]
        n = x.size
        t = np.arange(max(0, n - self.window), n, dtype=np.float64)
        y = x[max(0, n - self.window) :]
        ok = np.isfinite(y)
        if ok.sum() < 2:
            return point_forecast(np.full(horizon, last))
        t, y = t[ok], y[ok]
        tm, ym = t.mean(), y.mean()
        slope = float(((t - tm) * (y - ym)).sum() / ((t - tm) ** 2).sum())
        future = np.arange(n, n + horizon, dtype=np.float64)
        return point_forecast(ym + slope * (future - tm))


class ETS:
    """statsmodels ``ETSModel``: additive error, additive damped trend, daily season if detected.

    Spec (``name = "ets_statsmodels"``):

    - fitted by maximum likelihood on the last ``fit_steps`` steps (default 7 days = 2016) of the
      gap-filled history, standardised (minus mean, over standard deviation) for a
      well-conditioned optimisation, and transformed back;
    - ``seasonal="auto"`` (default): ETS(A,Ad,A) with ``seasonal_periods = season`` (288) when
      the fit window holds at least ``min_seasonal_steps`` (2 days: two full seasons) *and*
      passes the M4 seasonality test (:func:`has_seasonality`), else ETS(A,Ad,N).
      ``seasonal=True`` / ``False`` force either form;
    - the seasonal form uses *heuristic* initial states (Hyndman & Athanasopoulos, FPP3 8.6):
      only the smoothing parameters and the damping are estimated. Estimating the 288 initial
      seasonal states as well took about 50 s per fit here (0.1-0.2 s with the heuristic);
      the non-seasonal form estimates its initial level and trend;
    - p10/p90 are the 80 % prediction interval of ``get_prediction(...).summary_frame(alpha=0.2)``
      (closed form for this linear model);
    - falls back to the *random-walk* forecast (last value, p10/p90 at
      ``last -/+ 1.28 * sd(step changes) * sqrt(h)``) for a constant window, fewer than 10 steps,
      a failed fit or a non-finite forecast; ``fallbacks`` counts them, ``fallback_reasons``
      says why, ``seasonal_fits`` / ``nonseasonal_fits`` count the forms used.

    Measured on the NAB AWS backtest (2 CPU cores): 0.19-0.20 s per call on average, p90 0.34 s,
    slowest 0.64 s; the first call also pays the statsmodels import (about 1.8 s).
    """

    name = "ets_statsmodels"
    has_quantiles = True
    wants_timestamps = False

    def __init__(
        self,
        season: int = STEPS_PER_DAY,
        fit_steps: int = 7 * STEPS_PER_DAY,
        min_seasonal_steps: int = 2 * STEPS_PER_DAY,
        seasonal: bool | Literal["auto"] = "auto",
        maxiter: int = 1000,
    ) -> None:
        self.season = season
        self.fit_steps = fit_steps
        self.min_seasonal_steps = min_seasonal_steps
        self.seasonal = seasonal
        self.maxiter = maxiter
        self.calls = 0
        self.fallbacks = 0
        self.fallback_reasons: Counter[str] = Counter()
        self.seasonal_fits = 0
        self.nonseasonal_fits = 0
        self.fit_seconds = 0.0
        if seasonal == "auto":
            season_text = (
                f"additive season of {season} steps (heuristic initial states) when the window "
                f"holds {min_seasonal_steps} steps and passes the M4 seasonality test, "
                "no season otherwise"
            )
        elif seasonal:
            season_text = (
                f"additive season of {season} steps (heuristic initial states) when the window "
                f"holds {min_seasonal_steps} steps"
            )
        else:
            season_text = "no season"
        self.description = (
            "statsmodels ETSModel, additive error and additive damped trend, fitted by maximum "
            f"likelihood on the last {fit_steps} steps ({fit_steps / STEPS_PER_DAY:g} days, "
            f"standardised); {season_text}; p10/p90 from the 80 % prediction interval; "
            "random-walk fallback (counted) for constant windows and failed fits."
        )

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        self.calls += 1
        x = fill_gaps(history)[-self.fit_steps :]
        if x.size < 10:
            return self._fallback(x, horizon, "fewer than 10 steps")
        mean, sd = float(x.mean()), float(x.std())
        if not sd > 1e-12 * max(1.0, abs(mean)):
            return self._fallback(x, horizon, "constant window")
        z = (x - mean) / sd
        started = time.perf_counter()
        try:
            lower, p50, upper = self._fit_predict(z, horizon)
        except Exception as exc:  # any statsmodels failure: honest fallback, counted
            return self._fallback(x, horizon, f"fit failed: {type(exc).__name__}")
        finally:
            self.fit_seconds += time.perf_counter() - started
        out = np.vstack([lower, p50, upper]) * sd + mean
        if not np.isfinite(out).all():
            return self._fallback(x, horizon, "non-finite forecast")
        return out

    def _fit_predict(self, z: np.ndarray, horizon: int) -> tuple[np.ndarray, ...]:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        seasonal = z.size >= max(self.min_seasonal_steps, 2 * self.season) and (
            self.seasonal is True or (self.seasonal == "auto" and has_seasonality(z, self.season))
        )
        # statsmodels 0.15 needs a pandas object for get_prediction's row labels.
        endog = pd.Series(z)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; failures raise or go non-finite
            model = ETSModel(
                endog,
                error="add",
                trend="add",
                damped_trend=True,
                seasonal="add" if seasonal else None,
                seasonal_periods=self.season if seasonal else None,
                initialization_method="heuristic" if seasonal else "estimated",
            )
            fit = model.fit(disp=False, maxiter=self.maxiter)
            frame = fit.get_prediction(start=z.size, end=z.size + horizon - 1).summary_frame(
                alpha=0.2
            )
        if seasonal:
            self.seasonal_fits += 1
        else:
            self.nonseasonal_fits += 1
        p50 = frame["mean"].to_numpy(dtype=np.float64)
        lower = np.minimum(frame["pi_lower"].to_numpy(dtype=np.float64), p50)
        upper = np.maximum(frame["pi_upper"].to_numpy(dtype=np.float64), p50)
        return lower, p50, upper

    def _fallback(self, x: np.ndarray, horizon: int, reason: str) -> np.ndarray:
        self.fallbacks += 1
        self.fallback_reasons[reason] += 1
        return random_walk(x, horizon)

    def stats(self) -> dict[str, object]:
        """Counters for the report."""
        return {
            "calls": self.calls,
            "fallbacks": self.fallbacks,
            "fallback_reasons": dict(self.fallback_reasons),
            "seasonal_fits": self.seasonal_fits,
            "nonseasonal_fits": self.nonseasonal_fits,
        }


def random_walk(x: np.ndarray, horizon: int) -> np.ndarray:
    """Last value with the random walk's 80 % band from the spread of step changes."""
    last = float(x[-1])
    steps = np.diff(x)
    sd = float(steps.std()) if steps.size else 0.0
    spread = Z90 * sd * np.sqrt(np.arange(1, horizon + 1, dtype=np.float64))
    return np.vstack([last - spread, np.full(horizon, last), last + spread])


def has_seasonality(x: np.ndarray, season: int) -> bool:
    """The M4 competition's seasonality test (90 %): is the autocorrelation at lag ``season``
    larger than Bartlett's bound ``1.645 * sqrt((1 + 2 * sum_{k<season} r_k^2) / n)``?"""
    n = x.size
    if n <= season + 1:
        return False
    d = x - x.mean()
    spectrum = np.fft.rfft(d, 2 * n)
    r = np.fft.irfft(spectrum * np.conj(spectrum))[: season + 1]
    if not r[0] > 0:
        return False
    r = r / r[0]
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(r[1:season] ** 2)) / n)
    return bool(abs(r[season]) > limit)


def default_models() -> list[Model]:
    """The four baselines of the evaluation, in report order."""
    return [LastValue(), SeasonalNaive(), LinearTrend(), ETS()]
