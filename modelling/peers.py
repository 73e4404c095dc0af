"""Peers from a maintained library: statsforecast's AutoTheta and AutoETS as backtest models.

Both are ``modelling.baselines.Model``s, so the backtest asks them at the same
origins and scores them with the same MASE as every other model. Each fit uses
the last ``fit_steps`` (7 days) of the gap-filled history with a daily season
(288 steps); p10/p90 are the library's 80 % prediction interval.

Fits at season 288 are slow (AutoETS measured 6 s on a synthetic week here, and
10-108 s per fit on real series in issue 11), so each model has two time
budgets: ``budget_s`` over the whole backtest and ``series_budget_s`` per
series. Past either it declines the origin (``ModelDeclined``: not scored for
it) and counts it. The first origin of a series is always fitted while the
total budget lasts, so a small per-series budget spreads the fits over every
series (the backtest asks a series' origins in order, oldest first) instead of
spending the whole budget on the first few series. A fit the library refuses
(it raises) is declined too, counted apart. The report shows the counts, so a
figure over fewer origins is visible as such.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from modelling.backtest import ModelDeclined
from modelling.baselines import fill_gaps
from schemas.grid import STEPS_PER_DAY

LEVEL = 80  # p10-p90


class StatsforecastModel:
    has_quantiles = True
    wants_timestamps = False

    def __init__(
        self,
        name: str,
        make: Callable[[int], Any],
        *,
        label: str,
        season: int = STEPS_PER_DAY,
        fit_steps: int = 7 * STEPS_PER_DAY,
        budget_s: float | None = None,
        series_budget_s: float | None = None,
    ) -> None:
        self.name = name
        self._make = make
        self.season = season
        self.fit_steps = fit_steps
        self.budget_s = budget_s
        self.series_budget_s = series_budget_s
        self._series_seconds = 0.0
        self._last_length = -1
        self.fits = 0
        self.fit_seconds = 0.0
        self.declined: Counter[str] = Counter()
        limits = [] if budget_s is None else [f"{budget_s:g} s in all"]
        if series_budget_s is not None:
            limits.append(f"{series_budget_s:g} s per series")
        budget = ", ".join(limits) or "no time budget"
        self.description = (
            f"statsforecast {label}, season {season}, fitted on the last {fit_steps} steps "
            f"({fit_steps / STEPS_PER_DAY:g} days, gaps forward-filled) at every origin; p10/p90 "
            f"from its 80 % interval; fitting time: {budget}, origins past it declined (not "
            "scored)."
        )

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        if len(history) <= self._last_length:  # origins grow within a series: a new one
            self._series_seconds = 0.0
        self._last_length = len(history)
        if self.budget_s is not None and self.fit_seconds >= self.budget_s:
            self.declined["time budget spent"] += 1
            raise ModelDeclined(f"{self.name}: time budget of {self.budget_s:g} s spent")
        if self.series_budget_s is not None and self._series_seconds >= self.series_budget_s:
            self.declined["series time budget spent"] += 1
            raise ModelDeclined(f"{self.name}: {self.series_budget_s:g} s on this series spent")
        y = fill_gaps(history)[-self.fit_steps :]
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self._make(self.season).forecast(y=y, h=horizon, level=[LEVEL])
        except Exception as exc:  # the library's refusal: counted, not hidden
            self.declined[f"fit failed: {type(exc).__name__}"] += 1
            raise ModelDeclined(f"{self.name}: {exc}") from exc
        finally:
            took = time.perf_counter() - started
            self.fit_seconds += took
            self._series_seconds += took
        self.fits += 1
        p50 = np.asarray(out["mean"], dtype=np.float64)
        lo = np.minimum(np.asarray(out[f"lo-{LEVEL}"], dtype=np.float64), p50)
        hi = np.maximum(np.asarray(out[f"hi-{LEVEL}"], dtype=np.float64), p50)
        result = np.vstack([lo, p50, hi])
        if not np.isfinite(result).all():
            self.declined["non-finite forecast"] += 1
            raise ModelDeclined(f"{self.name}: non-finite forecast")
        return result

    def stats(self) -> dict[str, object]:
        return {
            "fits": self.fits,
            "fit_seconds": round(self.fit_seconds, 1),
            "seconds_per_fit": round(self.fit_seconds / self.fits, 3) if self.fits else None,
            "declined": sum(self.declined.values()),
            "declined_reasons": dict(self.declined),
        }


def _auto_theta(season: int) -> Any:
    from statsforecast.models import AutoTheta

    return AutoTheta(season_length=season)


def _auto_ets(season: int) -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(season_length=season)


def statsforecast_available() -> bool:
    try:
        import statsforecast.models  # noqa: F401
    except ImportError:
        return False
    return True


def peer_models(budget_s: float | None, series_budget_s: float | None = None
                ) -> list[StatsforecastModel]:
    """AutoTheta and AutoETS, each with these fitting budgets."""
    return [
        StatsforecastModel(name, make, label=label, budget_s=budget_s,
                           series_budget_s=series_budget_s)
        for name, make, label in (("autotheta", _auto_theta, "AutoTheta"),
                                  ("autoets", _auto_ets, "AutoETS"))
    ]
