"""The anchor rules on hand-made series with known answers."""

from __future__ import annotations

import numpy as np

from modelling.anchors import RULES, predict_linear, seasonal_naive, static_90


def test_static_90_uses_the_last_observed_value_before_the_origin() -> None:
    v = np.array([10, 95, np.nan, np.nan, 50, 90, 89])
    origins = np.array([0, 1, 2, 4, 5, 6, 7])
    # t=0: nothing seen; t=2: sees 95; t=4: last observed is still 95 (NaN after it);
    # t=5: 50; t=6: 90 (>= 90 opens); t=7: 89.
    assert static_90(v, origins).tolist() == [False, False, True, True, False, True, False]


def test_predict_linear_extrapolates_two_hours_from_the_last_step() -> None:
    # A ramp of 2 per step: value at step i is 2 i. Origin 20 sees steps 8..19, the last
    # is 38; 24 steps later the line reads 38 + 48 = 86 < 95. Origin 25: 48 + 48 = 96.
    ramp = 2.0 * np.arange(40)
    assert predict_linear(ramp, np.array([20, 25])).tolist() == [False, True]
    # Exactly at the level opens: at origin 24 the last step (23) of ramp + 1 reads 47,
    # and 47 + 48 = 95.
    assert predict_linear(ramp + 1, np.array([24])).tolist() == [True]


def test_predict_linear_ignores_nan_and_needs_two_readings() -> None:
    ramp = 2.0 * np.arange(40)
    holed = ramp.copy()
    holed[[15, 17, 18]] = np.nan
    assert predict_linear(holed, np.array([25])).tolist() == [True]  # same line
    lonely = np.full(40, np.nan)
    lonely[30] = 99.0
    assert predict_linear(lonely, np.array([31, 35])).tolist() == [False, False]
    # A flat line at 95 stays at 95: open. Too early for a full hour: uses what it has.
    assert predict_linear(np.full(40, 95.0), np.array([3, 30])).tolist() == [True, True]
    assert predict_linear(np.full(40, 95.0), np.array([0, 1])).tolist() == [False, False]


def test_seasonal_naive_looks_at_the_same_eight_hours_yesterday() -> None:
    day = 288
    v = np.full(3 * day, 10.0)
    v[100] = 97.0  # yesterday's spike at step 100
    # Origin t sees t-288 .. t-193 a day back: 100 is in it for t in [388-95, 388].
    origins = np.array([100, 292, 293, 388, 389])
    assert seasonal_naive(v, origins).tolist() == [False, False, True, True, False]


def test_rules_return_one_bool_per_origin() -> None:
    v = np.linspace(0, 100, 600)
    origins = np.arange(0, 600, 7)
    for rule in RULES.values():
        flags = rule(v, origins)
        assert flags.dtype == bool
        assert flags.shape == origins.shape
