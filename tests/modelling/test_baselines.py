from __future__ import annotations

import numpy as np
import pytest

from modelling.baselines import (
    ETS,
    LastValue,
    LinearTrend,
    Model,
    SeasonalNaive,
    default_models,
    fill_gaps,
    has_seasonality,
)
from modelling.metrics import mase, seasonal_scale

NAN = float("nan")
DAY = 288


def daily(steps: int, start: int = 0) -> np.ndarray:
    t = np.arange(start, start + steps)
    return 50.0 + 20.0 * np.sin(2 * np.pi * t / DAY) + 5.0 * np.cos(6 * np.pi * t / DAY)


def test_every_baseline_follows_the_model_interface() -> None:
    models = default_models()
    assert [m.name for m in models] == [
        "last_value",
        "seasonal_naive",
        "linear_trend",
        "ets_statsmodels",
    ]
    for model in models:
        assert isinstance(model, Model)
        assert isinstance(model.has_quantiles, bool)
        assert getattr(model, "description", "")


def test_fill_gaps_carries_forward_and_fills_leading_gaps_with_the_first_value() -> None:
    np.testing.assert_array_equal(fill_gaps(np.array([NAN, 1.0, NAN, 3.0, NAN])), [1, 1, 1, 3, 3])
    with pytest.raises(ValueError):
        fill_gaps(np.array([NAN, NAN]))


def test_last_value() -> None:
    out = LastValue()(np.array([1.0, 2.0, NAN]), 4)
    assert out.shape == (3, 4)
    np.testing.assert_array_equal(out[1], [2.0] * 4)
    assert np.isnan(out[[0, 2]]).all()


def test_seasonal_naive_reproduces_a_pure_daily_pattern() -> None:
    history, actual = daily(2 * DAY), daily(96, start=2 * DAY)
    out = SeasonalNaive()(history, 96)
    np.testing.assert_allclose(out[1], actual, atol=1e-9)
    assert mase(actual, out[1], seasonal_scale(np.arange(DAY + 10.0))) == pytest.approx(0.0)
    assert np.isnan(out[[0, 2]]).all()


def test_seasonal_naive_wraps_past_one_season_and_fills_gaps() -> None:
    history = daily(DAY + 5)
    history[-DAY + 3] = NAN  # filled with the step before it
    out = SeasonalNaive()(history, DAY + 2)[1]
    np.testing.assert_allclose(out[:3], history[-DAY : -DAY + 3])
    assert out[3] == history[-DAY + 2]
    np.testing.assert_allclose(out[DAY:], out[:2])


def test_seasonal_naive_falls_back_to_last_value_with_less_than_a_day() -> None:
    out = SeasonalNaive()(np.arange(100.0), 8)
    np.testing.assert_array_equal(out[1], [99.0] * 8)


def test_linear_trend_reproduces_a_line() -> None:
    t = np.arange(200.0)
    line = 3.0 + 0.5 * t
    history = line[:150].copy()
    history[-5] = NAN  # a gap inside the window is simply not used
    out = LinearTrend()(history, 50)
    np.testing.assert_allclose(out[1], line[150:], atol=1e-9)
    assert np.isnan(out[[0, 2]]).all()


def test_linear_trend_uses_only_the_window() -> None:
    history = np.concatenate([np.full(100, 1000.0), 10.0 + 2.0 * np.arange(24)])
    np.testing.assert_allclose(LinearTrend()(history, 2)[1], [58.0, 60.0])


def test_linear_trend_with_fewer_than_two_samples_is_the_last_value() -> None:
    history = np.concatenate([[7.0], np.full(30, NAN)])
    np.testing.assert_array_equal(LinearTrend()(history, 3)[1], [7.0, 7.0, 7.0])


def small_ets(**kwargs: object) -> ETS:
    """A reduced ETS (a 'day' of 24 steps) that fits in a few hundredths of a second."""
    return ETS(season=24, fit_steps=240, min_seasonal_steps=48, **kwargs)  # type: ignore[arg-type]


def test_ets_gives_ordered_quantiles_that_follow_a_seasonal_series() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(264)
    y = 100 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.5, t.size)
    model = small_ets()
    out = model(y[:240], 24)
    assert out.shape == (3, 24)
    assert np.isfinite(out).all()
    assert (out[0] <= out[1]).all() and (out[1] <= out[2]).all()
    assert model.seasonal_fits == 1 and model.fallbacks == 0
    assert np.mean(np.abs(out[1] - y[240:])) < 2.0  # knows the cycle (amplitude 10)


def test_ets_without_season_for_short_or_non_seasonal_history() -> None:
    rng = np.random.default_rng(4)
    model = small_ets()
    out = model(rng.normal(5.0, 1.0, 40), 6)  # shorter than two seasons
    out2 = model(rng.normal(5.0, 1.0, 240), 6)  # white noise: no season detected
    assert np.isfinite(out).all() and np.isfinite(out2).all()
    assert model.nonseasonal_fits == 2 and model.seasonal_fits == 0


def test_ets_falls_back_on_constant_series_and_failed_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    model = small_ets()
    out = model(np.full(100, 3.0), 5)
    np.testing.assert_array_equal(out, np.full((3, 5), 3.0))
    out = model(np.array([1.0, 2.0, NAN]), 5)  # fewer than 10 steps
    np.testing.assert_array_equal(out[1], [2.0] * 5)

    def broken(*args: object) -> None:
        raise np.linalg.LinAlgError("boom")

    monkeypatch.setattr(model, "_fit_predict", broken)
    history = np.arange(50.0) + np.sin(np.arange(50.0))
    out = model(history, 5)
    np.testing.assert_array_equal(out[1], [history[-1]] * 5)
    assert (out[0] < out[1]).all() and (out[2] > out[1]).all()  # random-walk band
    assert model.calls == 3 and model.fallbacks == 3
    assert model.fallback_reasons == {
        "constant window": 1,
        "fewer than 10 steps": 1,
        "fit failed: LinAlgError": 1,
    }


def test_seasonality_test() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(24 * 10)
    assert has_seasonality(np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, t.size), 24)
    assert not has_seasonality(rng.normal(0, 1, t.size), 24)
    assert not has_seasonality(np.ones(100), 24)
