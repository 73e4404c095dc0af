from __future__ import annotations

import numpy as np
import pytest

from modelling.metrics import (
    SCALE_EPSILON,
    coverage,
    mase,
    pinball,
    seasonal_scale,
)

NAN = float("nan")


def test_seasonal_scale_is_the_mean_absolute_change_over_one_season() -> None:
    day = np.sin(np.linspace(0, 2 * np.pi, 288, endpoint=False)) * 10
    train = np.concatenate([day, day + 2.0, day])  # every y[t] - y[t-288] is +2 or -2
    assert seasonal_scale(train) == pytest.approx(2.0)
    assert seasonal_scale([0, 0, 0, 0, 2, 2, 2, 2], season=4) == pytest.approx(2.0)


def test_seasonal_scale_skips_nan_pairs() -> None:
    train = [0, 0, 0, 0, 2, NAN, 2, 2, NAN]
    assert seasonal_scale(train, season=4) == pytest.approx(2.0)


def test_seasonal_scale_falls_back_to_lag_one_when_shorter_than_a_season() -> None:
    assert seasonal_scale([1.0, 3.0, 6.0]) == pytest.approx(2.5)  # |2|, |3|
    # long enough for the lag but no observed pair at it: lag 1 too
    assert seasonal_scale([1.0, 2.0, NAN, NAN, NAN], season=3) == pytest.approx(1.0)


def test_seasonal_scale_is_never_zero() -> None:
    assert seasonal_scale(np.full(600, 5.0)) == SCALE_EPSILON
    assert seasonal_scale([1.0]) == SCALE_EPSILON
    assert seasonal_scale([NAN, NAN, NAN]) == SCALE_EPSILON


def test_mase_is_mean_absolute_error_over_scale() -> None:
    actual = np.array([1.0, 2.0, 3.0, 4.0, NAN])
    p50 = np.array([2.0, 1.0, 4.0, 3.0, 100.0])  # errors exactly 1; the gap is not scored
    assert mase(actual, p50, scale=2.0) == pytest.approx(0.5)


def test_mase_does_not_hide_a_nan_forecast() -> None:
    assert np.isnan(mase(np.array([1.0, 2.0]), np.array([1.0, NAN]), 1.0))
    assert np.isnan(mase(np.array([NAN, NAN]), np.array([1.0, 2.0]), 1.0))


def test_pinball_by_hand() -> None:
    actual = np.array([10.0, 10.0, NAN])
    quantiles = {
        0.1: np.array([8.0, 12.0, 0.0]),  # 0.1 * 2 = 0.2 and 0.9 * 2 = 1.8 -> 1.0
        0.5: np.array([10.0, 11.0, 0.0]),  # 0 and 0.5 * 1 = 0.5 -> 0.25
        0.9: np.array([12.0, 9.0, 0.0]),  # 0.1 * 2 = 0.2 and 0.9 * 1 = 0.9 -> 0.55
    }
    assert pinball(actual, quantiles) == pytest.approx(0.6)
    assert pinball(actual, quantiles, scale=2.0) == pytest.approx(0.3)


def test_pinball_of_a_median_alone_is_half_the_mase() -> None:
    actual = np.array([1.0, 5.0, 2.0])
    p50 = np.array([2.0, 3.0, 2.0])
    assert pinball(actual, {0.5: p50}, 3.0) == pytest.approx(mase(actual, p50, 3.0) / 2)


def test_pinball_rejects_bad_levels() -> None:
    with pytest.raises(ValueError):
        pinball(np.array([1.0]), {1.0: np.array([1.0])})
    with pytest.raises(ValueError):
        pinball(np.array([1.0]), {})


def test_coverage_counts_observed_values_inside_the_band() -> None:
    actual = np.array([1.0, 2.0, 10.0, 4.0, NAN])
    p10 = np.array([0.0, 2.0, 0.0, 5.0, 0.0])  # 2.0 on the edge counts as inside
    p90 = np.array([10.0, 10.0, 10.0, 10.0, 0.0])  # 10.0 on the edge too; 4 < 5 is out
    assert coverage(actual, p10, p90) == pytest.approx(0.75)
