"""Rolling-origin backtest of forecast models over many series.

For every series of length ``n`` the first ``split = floor(n * (1 - holdout_fraction))`` steps
are the training part: they give the series' scale (:func:`metrics.seasonal_scale`) and are
never scored. Forecast origins are ``split, split + stride, ...`` while
``origin + horizon <= n``. At each origin every model sees ``values[:origin]`` only and its
forecast is scored against ``values[origin:origin + horizon]``.

Aggregation is "averaged over series": per model, each metric is averaged over the origins of a
series, then over series (each series weighs the same, whatever its number of origins); the
per-metric breakdown averages over the series of that metric only. Coverage is ``None`` for
models without quantiles; their pinball loss treats the median as every quantile (a point
forecast is a degenerate distribution), so it is half their MASE.

A model may decline an origin by raising ``ModelDeclined`` (a library model past its time
budget): that origin is not scored for that model only, and the model reports how many it
declined in its ``stats()``.

Origins with no observed value in the history or in the actual window are skipped (counted
in ``BacktestResult.skipped_origins``). A model that returns the wrong shape or a non-finite
p50 (or non-finite p10/p90 while claiming quantiles) makes the backtest raise: an evaluation
must not quietly drop a model's failures.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelling.baselines import Model
from modelling.metrics import coverage, mase, pinball, seasonal_scale
from schemas.grid import HORIZON_STEPS, STEPS_PER_DAY

QUANTILE_LEVELS = (0.1, 0.5, 0.9)


class ModelDeclined(Exception):  # noqa: N818 (a decision, not an error)
    """Raised by a model that will not forecast this origin (e.g. out of its time budget)."""


@dataclass
class SeriesData:
    """One metric of one server (or one NAB file) on a regular 5-minute grid, NaN for gaps."""

    name: str
    metric: str
    timestamps: np.ndarray  # datetime64, one per step
    values: np.ndarray  # float64

    def __post_init__(self) -> None:
        self.timestamps = np.asarray(self.timestamps, dtype="datetime64[ns]")
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.timestamps.shape != self.values.shape or self.values.ndim != 1:
            raise ValueError(
                f"{self.name}: timestamps {self.timestamps.shape} and values "
                f"{self.values.shape} must be 1-D and of the same length"
            )

    def __len__(self) -> int:
        return int(self.values.size)


@dataclass
class Scores:
    """Mean scores; ``coverage`` is None for a model without quantiles."""

    mase: float
    pinball: float
    coverage: float | None
    n_series: int = 0
    n_forecasts: int = 0


@dataclass
class SeriesScores:
    series: str
    metric: str
    model: str
    scale: float
    origins: int
    scores: Scores


@dataclass
class ExampleForecast:
    """One origin of one series with every model's forecast, for plots."""

    series: str
    metric: str
    origin: np.datetime64  # timestamp of the first forecast step
    history_timestamps: np.ndarray
    history: np.ndarray  # the last ``history_tail`` steps before the origin
    timestamps: np.ndarray  # the forecast steps
    actual: np.ndarray
    forecasts: dict[str, np.ndarray]  # model name -> (3, horizon) p10, p50, p90


@dataclass
class ModelInfo:
    name: str
    has_quantiles: bool
    description: str = ""
    calls: int = 0
    seconds: float = 0.0
    max_seconds: float = 0.0  # slowest single call
    extra: dict[str, object] = field(default_factory=dict)  # e.g. ETS fallback counters

    @property
    def seconds_per_call(self) -> float:
        return self.seconds / self.calls if self.calls else float("nan")


@dataclass
class BacktestResult:
    models: dict[str, Scores]
    per_metric: dict[str, dict[str, Scores]]  # metric -> model -> scores
    per_series: list[SeriesScores]
    examples: list[ExampleForecast]
    model_info: dict[str, ModelInfo]
    settings: dict[str, Any]
    skipped_origins: int = 0
    seconds: float = 0.0


def origins(n: int, horizon: int, holdout_fraction: float, stride: int) -> list[int]:
    """Forecast origins for a series of ``n`` steps (see the module docstring)."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be inside (0, 1)")
    if stride < 1 or horizon < 1:
        raise ValueError("stride and horizon must be positive")
    return list(range(train_length(n, holdout_fraction), n - horizon + 1, stride))


def train_length(n: int, holdout_fraction: float) -> int:
    return math.floor(n * (1.0 - holdout_fraction))


def wants_timestamps(model: Model) -> bool:
    """True when the model asked for the history's timestamps (``wants_timestamps = True``)."""
    return bool(getattr(model, "wants_timestamps", False))


def call_model(
    model: Model, history: np.ndarray, horizon: int, timestamps: np.ndarray,
    series: SeriesData | None = None,
) -> np.ndarray:
    """Call ``model`` the way it asked for, and check its output.

    A model with ``wants_series = True`` also gets the series itself (the TFT needs
    to know which metric it forecasts).
    """
    extra: dict[str, Any] = {}
    if wants_timestamps(model):
        extra["timestamps"] = timestamps
    if getattr(model, "wants_series", False):
        extra["series"] = series
    out = model(history, horizon, **extra)
    out = np.asarray(out, dtype=np.float64)
    if out.shape != (3, horizon):
        raise ValueError(f"model {model.name} returned shape {out.shape}, expected (3, {horizon})")
    rows = out if model.has_quantiles else out[1:2]
    if not np.isfinite(rows).all():
        raise ValueError(f"model {model.name} returned a non-finite forecast")
    return out


def score(actual: np.ndarray, forecast: np.ndarray, scale: float, has_quantiles: bool) -> Scores:
    """MASE, scaled pinball and coverage of one (3, horizon) forecast."""
    p10, p50, p90 = forecast
    if has_quantiles:
        quantiles = dict(zip(QUANTILE_LEVELS, (p10, p50, p90), strict=True))
        cov: float | None = coverage(actual, p10, p90)
    else:
        quantiles = dict.fromkeys(QUANTILE_LEVELS, p50)
        cov = None
    return Scores(
        mase=mase(actual, p50, scale),
        pinball=pinball(actual, quantiles, scale),
        coverage=cov,
        n_forecasts=1,
    )


def _mean_scores(items: Sequence[Scores], has_quantiles: bool, n_series: int) -> Scores:
    return Scores(
        mase=float(np.mean([s.mase for s in items])) if items else float("nan"),
        pinball=float(np.mean([s.pinball for s in items])) if items else float("nan"),
        coverage=(
            float(np.mean([s.coverage for s in items if s.coverage is not None]))
            if has_quantiles and items
            else None
        ),
        n_series=n_series,
        n_forecasts=sum(s.n_forecasts for s in items),
    )


def backtest(
    series: Sequence[SeriesData],
    models: Sequence[Model],
    horizon: int = HORIZON_STEPS,
    holdout_fraction: float = 0.3,
    stride: int = 48,
    *,
    season: int = STEPS_PER_DAY,
    examples_per_series: int = 1,
    history_tail: int = STEPS_PER_DAY,
) -> BacktestResult:
    """Run every model at every origin of every series; see the module docstring.

    ``examples_per_series`` forecasts per series are kept for plots (the middle origin, or
    evenly spread origins), with ``history_tail`` steps of history before them.
    """
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be unique: {names}")
    for model in models:
        if wants_timestamps(model) and not accepts_keyword(model, "timestamps"):
            raise TypeError(f"model {model.name} wants timestamps but takes no 'timestamps'")
    info = {
        m.name: ModelInfo(m.name, bool(m.has_quantiles), str(getattr(m, "description", "")))
        for m in models
    }
    per_series: list[SeriesScores] = []
    examples: list[ExampleForecast] = []
    skipped = 0
    started = time.perf_counter()
    for s in series:
        n = len(s)
        scale = seasonal_scale(s.values[: train_length(n, holdout_fraction)], season)
        starts = origins(n, horizon, holdout_fraction, stride)
        keep = _example_origins(starts, examples_per_series)
        collected: dict[str, list[Scores]] = {m.name: [] for m in models}
        for origin in starts:
            history, actual = s.values[:origin], s.values[origin : origin + horizon]
            if not np.isfinite(history).any() or not np.isfinite(actual).any():
                skipped += 1
                continue
            forecasts = {}
            for model in models:
                t0 = time.perf_counter()
                try:
                    out = call_model(model, history, horizon, s.timestamps[:origin], s)
                except ModelDeclined:
                    continue
                took = time.perf_counter() - t0
                info[model.name].seconds += took
                info[model.name].max_seconds = max(info[model.name].max_seconds, took)
                info[model.name].calls += 1
                collected[model.name].append(score(actual, out, scale, model.has_quantiles))
                forecasts[model.name] = out
            if origin in keep:
                lo = max(0, origin - history_tail)
                examples.append(
                    ExampleForecast(
                        series=s.name,
                        metric=s.metric,
                        origin=s.timestamps[origin],
                        history_timestamps=s.timestamps[lo:origin],
                        history=s.values[lo:origin],
                        timestamps=s.timestamps[origin : origin + horizon],
                        actual=actual,
                        forecasts=forecasts,
                    )
                )
        for model in models:
            if collected[model.name]:
                per_series.append(
                    SeriesScores(
                        series=s.name,
                        metric=s.metric,
                        model=model.name,
                        scale=scale,
                        origins=len(collected[model.name]),
                        scores=_mean_scores(collected[model.name], model.has_quantiles, 1),
                    )
                )
    for model in models:
        stats = getattr(model, "stats", None)
        if callable(stats):
            info[model.name].extra = dict(stats())
    return BacktestResult(
        models={m.name: _aggregate(per_series, m) for m in models},
        per_metric={
            metric: {m.name: _aggregate(per_series, m, metric) for m in models}
            for metric in sorted({s.metric for s in series})
        },
        per_series=per_series,
        examples=examples,
        model_info=info,
        settings={
            "horizon": horizon,
            "holdout_fraction": holdout_fraction,
            "stride": stride,
            "season": season,
            "series": len(series),
            "quantiles": list(QUANTILE_LEVELS),
        },
        skipped_origins=skipped,
        seconds=time.perf_counter() - started,
    )


def _aggregate(per_series: list[SeriesScores], model: Model, metric: str | None = None) -> Scores:
    rows = [
        r for r in per_series if r.model == model.name and (metric is None or r.metric == metric)
    ]
    means = _mean_scores([r.scores for r in rows], model.has_quantiles, len(rows))
    means.n_forecasts = sum(r.origins for r in rows)
    return means


def _example_origins(starts: list[int], count: int) -> set[int]:
    if count <= 0 or not starts:
        return set()
    if count == 1:
        return {starts[len(starts) // 2]}
    picks = np.linspace(0, len(starts) - 1, min(count, len(starts))).round().astype(int)
    return {starts[i] for i in picks}


def accepts_keyword(model: Model, keyword: str) -> bool:
    """Whether ``model.__call__`` takes ``keyword`` (a helper for checking plug-in models)."""
    try:
        params = inspect.signature(model).parameters
    except (TypeError, ValueError):
        return False
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
