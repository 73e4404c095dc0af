from __future__ import annotations

import numpy as np
import pytest

from inference_worker.baseline_forecaster import SeasonalNaiveTrend
from inference_worker.forecaster import Batch
from schemas.common import METRIC_BOUNDS, METRICS
from tests.inference_worker.factories import make_window

DAY = 288
HORIZON = 96
P10, P50, P90 = 0, 1, 2
CPU, MEM = METRICS.index("cpu_pct"), METRICS.index("mem_pct")
LEVELS = np.array([30.0, 40.0, 50.0, 100.0, 80.0, 40.0, 0.001])


def flat(batch: int, steps: int) -> np.ndarray:
    """Every metric of every server at its healthy level, ``values[b, m, t]``."""
    return np.broadcast_to(LEVELS[None, :, None], (batch, len(METRICS), steps)).copy()


def predict(values: np.ndarray, **kwargs: int) -> np.ndarray:
    return SeasonalNaiveTrend(**kwargs).predict(Batch(windows=(), values=values))


def daily_sine(steps: int, phase: float, amplitude: float = 20.0) -> np.ndarray:
    """``steps`` of context then ``HORIZON`` steps of truth, of a daily cycle around 50."""
    t = np.arange(steps + HORIZON)
    return 50.0 + amplitude * np.sin(2 * np.pi * t / DAY + phase)


def sine_errors(steps: int, noise: float = 0.5) -> tuple[np.ndarray, float]:
    """p50's absolute error per server over the horizon, for servers at 4 phases of the day."""
    rng = np.random.default_rng(1)
    phases = np.linspace(0.0, 2 * np.pi, 4, endpoint=False)
    values = flat(len(phases), steps)
    truth = np.stack([daily_sine(steps, phase) for phase in phases])
    values[:, CPU] = truth[:, :steps] + rng.normal(0.0, noise, (len(phases), steps))
    out = predict(values)
    return np.abs(out[:, CPU, P50] - truth[:, steps:]), 20.0


@pytest.mark.parametrize("steps", [DAY + 96, 2 * DAY])
def test_tracks_a_daily_cycle_with_more_than_a_day_of_context(steps: int) -> None:
    errors, amplitude = sine_errors(steps)
    assert errors.mean() < 0.15 * amplitude
    assert errors.max() < 0.5 * amplitude


@pytest.mark.xfail(
    strict=True,
    reason="a 288-step window (what the stream processor publishes) never reaches the "
    "seasonal path, which needs a day plus 2 hours of context; see the report",
)
def test_tracks_a_daily_cycle_with_a_standard_one_day_window() -> None:
    errors, amplitude = sine_errors(DAY)
    assert errors.mean() < 0.15 * amplitude
    assert errors.max() < 0.5 * amplitude


@pytest.mark.parametrize("steps", [DAY + 3, DAY + 12, DAY + 23])
def test_a_day_plus_less_than_two_hours_is_forecast_from_the_trend(steps: int) -> None:
    # Yesterday's 2-hour trend is not in the window yet: the forecast must not
    # mistake the whole recent slope for an excess over it (it did: the empty
    # slice gave yesterday a slope of 0, and p50 ran off by 1.5 amplitudes).
    rng = np.random.default_rng(2)
    values = flat(1, steps)
    values[0, CPU] = daily_sine(steps, 1.0)[:steps] + rng.normal(0.0, 1.0, steps)
    longer = predict(values)[0, CPU, P50]
    trend_only = predict(values[..., -DAY:])[0, CPU, P50]  # one day: the trend-only path
    np.testing.assert_allclose(longer, trend_only, atol=1e-3)


def damped(slope: float) -> np.ndarray:
    """How far the damped trend has carried a slope after each forecast step."""
    h = np.arange(1, HORIZON + 1)
    return slope * 0.98 * (1 - 0.98**h) / (1 - 0.98)


def test_a_leak_that_began_today_is_extrapolated_upward() -> None:
    slope, began = 0.2, 48  # +0.2 % memory per step for the last 4 hours; yesterday flat
    steps = 2 * DAY
    values = flat(1, steps)
    values[0, MEM] = 40.0
    values[0, MEM, -began:] += slope * np.arange(1, began + 1)
    p50 = predict(values)[0, MEM, P50]
    last = values[0, MEM, -1]
    assert np.all(np.diff(p50) > 0)
    # The excess over yesterday's trend is damped: after 8 hours it has carried
    # the leak about 0.44 * slope * 96 (see the report), not the full slope * 96.
    # (The level is the mean of the last 15 minutes: one step behind the last value.)
    np.testing.assert_allclose(p50, last - slope + damped(slope), atol=0.05)
    assert slope * HORIZON / 3 < p50[-1] - last < slope * HORIZON


def test_a_ramp_that_ran_yesterday_too_is_followed_at_its_slope() -> None:
    slope = 0.1  # yesterday's values carry the ramp; no excess trend to damp
    steps = DAY + 96
    values = flat(1, steps)
    values[0, MEM] = 20.0 + slope * np.arange(steps)
    p50 = predict(values)[0, MEM, P50]
    assert p50[-1] - values[0, MEM, -1] == pytest.approx(slope * HORIZON, rel=0.15)


def test_a_leak_in_a_one_day_window_follows_the_damped_trend() -> None:
    # One day of context takes the trend-only path: level plus a damped slope,
    # which reaches well under slope * 96 after 8 hours (see the report).
    slope = 0.2
    values = flat(1, DAY)
    values[0, MEM] = 30.0 + slope * np.arange(DAY)
    p50 = predict(values)[0, MEM, P50]
    last = values[0, MEM, -1]
    np.testing.assert_allclose(p50, last - slope + damped(slope), atol=0.05)
    assert p50[-1] - last > slope * HORIZON / 3
    assert np.all(np.diff(p50) > 0)


@pytest.mark.xfail(
    strict=True,
    reason="the 2-hour least-squares trend reads a settled level shift as a ramp and "
    "extrapolates it to saturation (false critical risk); see the report",
)
@pytest.mark.parametrize("steps", [DAY, 2 * DAY])
def test_a_settled_level_shift_is_not_extrapolated_to_saturation(steps: int) -> None:
    values = flat(1, steps)
    values[0, CPU, -12:] = 60.0  # a batch job started an hour ago; cpu has held 60 since
    p50 = predict(values)[0, CPU, P50]
    assert p50.max() < 85.0  # below the generic warning level


def test_output_shape_and_quantile_order() -> None:
    rng = np.random.default_rng(3)
    values = flat(3, DAY + 96) + rng.normal(0.0, 2.0, (3, len(METRICS), DAY + 96))
    values[:, -1] = rng.uniform(0.0, 0.2, (3, DAY + 96))  # error_rate
    out = predict(values)
    assert out.shape == (3, len(METRICS), 3, HORIZON)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.all(out[:, :, P10] <= out[:, :, P50])
    assert np.all(out[:, :, P50] <= out[:, :, P90])
    assert np.any(out[:, :, P10] < out[:, :, P90])  # a band, not a line
    assert predict(values, horizon_steps=12).shape == (3, len(METRICS), 3, 12)


def test_the_band_widens_with_the_horizon() -> None:
    rng = np.random.default_rng(4)
    values = flat(1, DAY) + rng.normal(0.0, 1.0, (1, len(METRICS), DAY))
    out = predict(values)
    width = out[0, CPU, P90] - out[0, CPU, P10]
    assert width[0] > 0
    assert width[47] > 5 * width[0]
    assert np.all(np.diff(width) >= -1e-4)


def test_values_stay_within_metric_bounds() -> None:
    rng = np.random.default_rng(5)
    steps = DAY
    values = flat(2, steps)
    values[0] = np.clip(99.0 + rng.normal(0, 3, (len(METRICS), steps)), 0, 100)  # near full
    values[0, -1] = np.clip(0.98 + rng.normal(0, 0.05, steps), 0, 1)  # error_rate near 1
    values[1] = np.clip(0.5 + rng.normal(0, 3, (len(METRICS), steps)), 0, None)  # near 0
    values[1, MEM] = 50.0 + 2.0 * np.arange(steps) / steps * 40  # rising fast to 90
    values[1, MEM, -24:] = 90.0 + 1.0 * np.arange(24)  # and racing past 100
    out = predict(values)
    for m, name in enumerate(METRICS):
        low, high = METRIC_BOUNDS[name]
        assert out[:, m].min() >= low, name
        assert out[:, m].max() <= high, name
    assert out[1, MEM, P50, -1] == 100.0  # clipped, not extrapolated past full


def test_gaps_are_carried_over() -> None:
    rng = np.random.default_rng(6)
    steps = 2 * DAY
    values = flat(1, steps)
    values[0, :, rng.random(steps) < 0.2] = np.nan  # a fifth of the steps missing
    values[0, CPU, -6:] = np.nan  # and the last half hour of cpu
    values[0, MEM, :-60] = 45.0  # memory stepped down to 40 five hours ago...
    values[0, MEM, -30:-10] = np.nan  # ...with a gap of 20 steps since
    out = predict(values)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, CPU], 30.0, atol=1e-4)  # the last value, held
    # The level moved from 45 to 40 since yesterday: yesterday's profile moves with it.
    np.testing.assert_allclose(out[0, MEM, P50], 40.0, atol=1e-4)


def test_a_cycle_with_gaps_is_still_tracked() -> None:
    rng = np.random.default_rng(7)
    steps = 2 * DAY
    values = flat(1, steps)
    truth = daily_sine(steps, 0.5)
    values[0, CPU] = truth[:steps]
    values[0, CPU, rng.random(steps) < 0.1] = np.nan
    p50 = predict(values)[0, CPU, P50]
    assert np.abs(p50 - truth[steps:]).max() < 4.0


def test_a_metric_never_observed_is_nan_and_the_others_are_not() -> None:
    values = flat(2, DAY)
    values[0, MEM] = np.nan
    out = predict(values)
    assert np.isnan(out[0, MEM]).all()
    assert np.isfinite(np.delete(out[0], MEM, axis=0)).all()
    assert np.isfinite(out[1]).all()  # the other server's memory is unaffected


def test_a_window_whose_yesterday_is_missing_falls_back_to_the_trend() -> None:
    values = flat(1, DAY + 96)
    values[0, CPU, :200] = np.nan  # seen only for the last 184 steps
    values[0, CPU, 200:] = 60.0
    out = predict(values)
    np.testing.assert_allclose(out[0, CPU, P50], 60.0, atol=1e-4)


def test_a_young_series_is_forecast_from_its_trend() -> None:
    slope = 0.3
    window = make_window(
        "ppsrv001",
        {"cpu_pct": 20.0 + slope * np.arange(DAY) - slope * (DAY - 40)},
        observed=40,
    )
    batch = Batch.of([window])
    assert np.isnan(batch.values[0, :, : DAY - 40]).all()
    out = SeasonalNaiveTrend().predict(batch)
    assert np.isfinite(out).all()
    p50 = out[0, CPU, P50]
    last = batch.values[0, CPU, -1]
    assert np.all(np.diff(p50) > 0)
    assert p50[-1] > last + slope * 30
    # A 40-step array (no leading gaps) gives the same forecast.
    short = SeasonalNaiveTrend().predict(Batch(windows=(), values=batch.values[..., -40:]))
    np.testing.assert_allclose(short, out, atol=1e-4)
