"""Crossing probabilities from a quantile forecast, and their calibration."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from inference_worker.breach import (
    WITHIN_8_H,
    Z90,
    Calibration,
    breach,
    crossing_bounds,
    crossing_score,
    exceedance,
    fit_isotonic,
    median_crossing_step,
    median_crossing_steps,
    pool_adjacent_violators,
)


def normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_symmetric_normal_gives_the_normal_tail() -> None:
    mu, sigma = 50.0, 10.0
    p10, p50, p90 = mu - Z90 * sigma, mu, mu + Z90 * sigma
    for thr, z in [(60.0, 1.0), (70.0, 2.0), (40.0, -1.0), (35.0, -1.5)]:
        got = float(exceedance(np.array(p10), np.array(p50), np.array(p90), thr))
        assert got == pytest.approx(normal_sf(z), abs=1e-7)


def test_the_three_quantiles_are_matched_whatever_the_asymmetry() -> None:
    p10, p50, p90 = np.array([40.0]), np.array([50.0]), np.array([90.0])
    assert exceedance(p10, p50, p90, 40.0)[0] == pytest.approx(0.9, abs=1e-7)
    assert exceedance(p10, p50, p90, 50.0)[0] == pytest.approx(0.5)
    assert exceedance(p10, p50, p90, 90.0)[0] == pytest.approx(0.1, abs=1e-7)


def ramp_forecast(horizon: int = 96, cross_at: int = 10, thr: float = 95.0):
    """p50 rising 1 per step, equal to thr at step ``cross_at``; p10/p90 at -/+ 5."""
    p50 = thr + (np.arange(horizon) - cross_at).astype(float)
    return p50 - 5.0, p50, p50 + 5.0


def test_median_at_the_threshold_is_one_half_and_crossing_step() -> None:
    p10, p50, p90 = ramp_forecast()
    exceed = exceedance(p10, p50, p90, 95.0)
    assert exceed[10] == pytest.approx(0.5)
    assert np.all(np.diff(exceed) >= 0)
    assert median_crossing_step(p50, 95.0) == 10
    assert median_crossing_step(p50, 500.0) is None


def test_within_30_minutes_versus_within_8_hours() -> None:
    p10, p50, p90 = ramp_forecast()
    result = breach(p10, p50, p90, 95.0)
    # The first 6 steps end at step 5, 5 below the threshold: z = -5 / (5 / Z90).
    assert result.score_30_min == pytest.approx(normal_sf(Z90), abs=1e-7)  # 0.1
    assert result.score_8_h == pytest.approx(exceedance(p10, p50, p90, 95.0).max())
    assert result.score_8_h > 0.99
    # Identity calibration by default.
    assert result.within_30_min == pytest.approx(result.score_30_min)
    assert int(result.median_step) == 10


def test_batched_shapes_and_bounds() -> None:
    p10, p50, p90 = ramp_forecast()
    lo, mid, hi = (np.stack([q, q - 100.0]) for q in (p10, p50, p90))  # second never crosses
    result = breach(lo, mid, hi, np.array([95.0, 95.0]))
    assert result.exceedance.shape == (2, WITHIN_8_H)
    assert result.median_step.tolist() == [10, -1]
    assert median_crossing_steps(mid, np.array([95.0, 40.0])).tolist() == [10, 55]
    lower, upper = crossing_bounds(result.exceedance, 6)
    assert np.all(lower <= upper)
    assert np.all(upper <= 1.0)


def test_zero_width_is_a_step_function() -> None:
    flat = np.array([90.0, 95.0, 99.0])
    assert exceedance(flat, flat, flat, 95.0).tolist() == [0.0, 1.0, 1.0]
    # Zero width below only: at the median the lower half's mass counts in full.
    assert exceedance(np.array(95.0), np.array(95.0), np.array(100.0), 95.0) == 1.0
    # Zero width above only: nothing above the median.
    assert exceedance(np.array(90.0), np.array(95.0), np.array(95.0), 95.1) == 0.0


def test_unordered_quantiles_are_sorted_and_nan_stays_nan() -> None:
    a = exceedance(np.array([60.0]), np.array([50.0]), np.array([40.0]), 55.0)
    b = exceedance(np.array([40.0]), np.array([50.0]), np.array([60.0]), 55.0)
    assert a == pytest.approx(b)
    nan = exceedance(np.array([np.nan, 40.0]), np.array([50.0, 50.0]), np.array([60.0, 60.0]), 55.0)
    assert np.isnan(nan[0]) and not np.isnan(nan[1])
    assert np.isnan(crossing_score(np.full((1, 6), np.nan), 6)[0])
    assert crossing_score(np.array([[np.nan, 0.2, 0.1]]), 6)[0] == pytest.approx(0.2)


def test_pool_adjacent_violators_small_known_examples() -> None:
    assert pool_adjacent_violators(np.array([1.0, 3.0, 2.0, 4.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    weighted = pool_adjacent_violators(np.array([0.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0]))
    assert weighted.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3])
    assert pool_adjacent_violators(np.array([3.0, 2.0, 1.0])).tolist() == [2.0, 2.0, 2.0]


def test_fit_isotonic_on_a_small_known_example() -> None:
    cal = fit_isotonic(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 1, 0, 1]), bins=None)
    assert cal.x == (0.1, 0.2, 0.3, 0.4)
    assert cal.y == (0.0, 0.5, 0.5, 1.0)
    assert cal(np.array([0.0, 0.25, 0.35, 0.9])).tolist() == pytest.approx([0.0, 0.5, 0.75, 1.0])
    assert np.isnan(cal(np.nan))


def test_fit_isotonic_bins_keep_the_curve_small_and_monotone() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0, 1, 5000)
    outcomes = rng.uniform(0, 1, 5000) < scores**2
    cal = fit_isotonic(scores, outcomes, bins=10)
    assert len(cal.x) == 10
    assert np.all(np.diff(cal.y) >= 0)
    assert cal(0.5) == pytest.approx(0.25, abs=0.08)


def test_calibration_json_round_trip_and_validation() -> None:
    cal = Calibration(x=(0.0, 0.3, 1.0), y=(0.0, 0.1, 0.9))
    text = json.dumps(cal.to_json())
    assert Calibration.from_json(json.loads(text)) == cal
    assert Calibration.from_json(text) == cal
    assert Calibration().to_json() == {"x": [0.0, 1.0], "y": [0.0, 1.0]}
    for bad in (
        {"x": [0.0, 0.0], "y": [0.0, 1.0]},
        {"x": [0.0, 1.0], "y": [0.5, 0.2]},
        {"x": [0.0, 1.0], "y": [0.0, 1.5]},
        {"x": [0.0], "y": [0.0, 1.0]},
    ):
        with pytest.raises(ValueError):
            Calibration.from_json(bad)
