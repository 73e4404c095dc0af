from __future__ import annotations

import numpy as np
import pytest

from modelling.backtest import (
    SeriesData,
    backtest,
    origins,
)
from modelling.baselines import LastValue, SeasonalNaive, point_forecast

DAY = 288
START = np.datetime64("2024-01-01T00:00")


def make_series(values: np.ndarray, name: str = "s", metric: str = "cpu_pct") -> SeriesData:
    stamps = START + np.arange(values.size) * np.timedelta64(5, "m")
    return SeriesData(name, metric, stamps, values)


def daily(steps: int) -> np.ndarray:
    return 50.0 + 20.0 * np.sin(2 * np.pi * np.arange(steps) / DAY)


class Recorder:
    """Forecasts a constant and remembers what it was given."""

    has_quantiles = False

    def __init__(self, name: str = "recorder", value: float = 0.0, timestamps: bool = False):
        self.name = name
        self.value = value
        self.wants_timestamps = timestamps
        self.seen: list[tuple[int, np.ndarray | None]] = []

    def __call__(
        self, history: np.ndarray, horizon: int, timestamps: np.ndarray | None = None
    ) -> np.ndarray:
        self.seen.append((history.size, timestamps))
        return point_forecast(np.full(horizon, self.value))


class Band:
    """p50 = 0 with a fixed band [-1, 1]: covers exactly the actual values in it."""

    name = "band"
    has_quantiles = True

    def __call__(self, history: np.ndarray, horizon: int) -> np.ndarray:
        return np.vstack([np.full(horizon, -1.0), np.zeros(horizon), np.full(horizon, 1.0)])


def test_origins_start_at_seventy_percent_and_step_by_stride() -> None:
    assert origins(1000, 96, 0.3, 48) == [700, 748, 796, 844, 892]
    assert origins(1000, 96, 0.3, 200) == [700, 900]
    assert origins(100, 96, 0.3, 48) == []  # the holdout is shorter than the horizon
    with pytest.raises(ValueError):
        origins(100, 10, 1.0, 5)


def test_models_see_only_the_history_before_each_origin() -> None:
    plain, timed = Recorder("plain"), Recorder("timed", timestamps=True)
    s = make_series(np.arange(1000.0))
    result = backtest([s], [plain, timed], horizon=96, holdout_fraction=0.3, stride=48)
    assert [n for n, _ in plain.seen] == [700, 748, 796, 844, 892]
    assert all(ts is None for _, ts in plain.seen)
    for n, ts in timed.seen:
        assert ts is not None and ts.size == n and ts[-1] == s.timestamps[n - 1]
    assert result.models["plain"].n_forecasts == 5
    assert result.model_info["timed"].calls == 5


def test_a_model_that_wants_timestamps_must_take_them() -> None:
    lazy = LastValue()
    lazy.wants_timestamps = True
    with pytest.raises(TypeError):
        backtest([make_series(np.arange(500.0))], [lazy], horizon=10)


def test_scores_are_averaged_per_series_then_over_series() -> None:
    # a: 80 steps, train part (56) alternates 0/2 -> scale 2 (lag 1: shorter than a day);
    #    holdout all 4 -> a zero forecast has MASE 2; origins 56, 66.
    # b: 120 steps, train part (84) rises by 1 -> scale 1; holdout all 1 -> MASE 1;
    #    origins 84, 94, 104. Averaged over series: 1.5 (over forecasts it would be 1.4).
    a = np.concatenate([np.tile([0.0, 2.0], 28), np.full(24, 4.0)])
    b = np.concatenate([np.arange(84.0), np.full(36, 1.0)])
    series = [make_series(a, "a", "cpu_pct"), make_series(b, "b", "mem_pct")]
    result = backtest(series, [Recorder(), Band()], horizon=10, stride=10)
    per = {r.series: r for r in result.per_series if r.model == "recorder"}
    assert per["a"].origins == 2 and per["b"].origins == 3
    assert per["a"].scale == pytest.approx(2.0) and per["b"].scale == pytest.approx(1.0)
    assert per["a"].scores.mase == pytest.approx(2.0)
    assert per["b"].scores.mase == pytest.approx(1.0)
    overall = result.models["recorder"]
    assert overall.mase == pytest.approx(1.5)
    assert overall.pinball == pytest.approx(0.75)  # the median as every quantile
    assert overall.coverage is None
    assert overall.n_series == 2 and overall.n_forecasts == 5
    assert result.per_metric["cpu_pct"]["recorder"].mase == pytest.approx(2.0)
    assert result.per_metric["mem_pct"]["recorder"].mase == pytest.approx(1.0)
    assert result.per_metric["cpu_pct"]["recorder"].n_series == 1
    # a (4) is never inside [-1, 1], b (1) always (on the edge)
    assert result.models["band"].coverage == pytest.approx(0.5)


def test_seasonal_naive_is_perfect_on_a_pure_daily_pattern() -> None:
    values = daily(5 * DAY)
    values[: 2 * DAY] += np.random.default_rng(0).normal(0, 1, 2 * DAY)  # a non-zero scale
    result = backtest([make_series(values)], [SeasonalNaive(), LastValue()], horizon=96)
    assert result.models["seasonal_naive"].mase == pytest.approx(0.0, abs=1e-9)
    assert result.models["last_value"].mase > 1.0


def test_gaps_skip_unscorable_origins_and_examples_are_kept() -> None:
    values = np.arange(1000.0)
    values[700:796] = np.nan  # the first origin's actual window is all gap
    result = backtest([make_series(values, "gappy")], [LastValue(), Band()], horizon=96)
    assert result.skipped_origins == 1
    assert result.models["last_value"].n_forecasts == 4
    (example,) = result.examples
    assert example.series == "gappy" and set(example.forecasts) == {"last_value", "band"}
    assert example.history.size == DAY and example.actual.size == 96
    assert example.origin == example.timestamps[0]
    assert example.forecasts["band"].shape == (3, 96)


def test_a_broken_model_makes_the_backtest_fail() -> None:
    class Broken(Recorder):
        def __call__(self, history: np.ndarray, horizon: int, timestamps=None) -> np.ndarray:
            return point_forecast(np.full(horizon, np.nan))

    with pytest.raises(ValueError, match="non-finite"):
        backtest([make_series(np.arange(500.0))], [Broken()], horizon=10)

    class Short(Recorder):
        def __call__(self, history: np.ndarray, horizon: int, timestamps=None) -> np.ndarray:
            return point_forecast(np.zeros(horizon - 1))

    with pytest.raises(ValueError, match="shape"):
        backtest([make_series(np.arange(500.0))], [Short()], horizon=10)


def test_series_data_checks_its_arrays() -> None:
    with pytest.raises(ValueError):
        SeriesData("x", "cpu_pct", np.array(["2024-01-01"], dtype="datetime64[ns]"), np.zeros(2))
