"""Incident definitions and rule judging on hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelling.incidents import (
    DAY_NS,
    STEP_NS,
    AlertSeries,
    Incident,
    alert_states_from_rows,
    find_incidents,
    incident_steps,
    judge_rule,
    judgeable,
    origin_steps,
    recurring_flags,
    span_days,
)
from schemas.common import METRICS

T0 = pd.Timestamp("2013-08-01 00:00", tz="UTC")
MIN = 60 * 10**9


def series(*parts: tuple[float, int]) -> np.ndarray:
    """Concatenate (value, repeat) runs."""
    return np.concatenate([np.full(n, v, dtype=float) for v, n in parts])


def wide_frame(cpu: np.ndarray, server: str = "bbvm1", start: pd.Timestamp = T0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "server_id": server,
            "timestamp": pd.date_range(start, periods=len(cpu), freq="5min"),
        }
    )
    for metric in METRICS:
        frame[metric] = cpu if metric == "cpu_pct" else np.full(len(cpu), 10.0)
    return frame


def test_incident_after_a_quiet_hour() -> None:
    values = series((10, 12), (96, 3), (10, 5))
    starts, prev = incident_steps(values)
    assert starts.tolist() == [12]
    assert prev.tolist() == [-1]


def test_two_high_steps_are_no_incident() -> None:
    starts, _ = incident_steps(series((10, 20), (96, 2), (10, 20)))
    assert starts.size == 0


def test_eleven_quiet_steps_are_not_enough() -> None:
    starts, _ = incident_steps(series((10, 11), (96, 3)))
    assert starts.size == 0
    # ...and a single high step resets the count: 12 lows, 1 high, 11 lows, 3 high.
    starts, _ = incident_steps(series((10, 12), (99, 1), (10, 11), (96, 3)))
    assert starts.size == 0


def test_nan_steps_are_not_observed() -> None:
    # 6 lows, 4 NaN, 6 lows: 12 observed lows, so the run after them counts.
    values = series((10, 6), (np.nan, 4), (10, 6), (95, 3))
    starts, _ = incident_steps(values)
    assert starts.tolist() == [16]
    # A NaN inside the run ends it: 2 + NaN + 2 is no 3-step run.
    starts, _ = incident_steps(series((10, 12), (96, 2), (np.nan, 1), (96, 2)))
    assert starts.size == 0


def test_second_incident_needs_its_own_quiet_hour_and_knows_the_previous_high() -> None:
    values = series((10, 12), (96, 4), (10, 12), (97, 3), (10, 5), (96, 3))
    starts, prev = incident_steps(values)
    assert starts.tolist() == [12, 28]
    assert prev.tolist() == [-1, 15]


def test_find_incidents_on_a_wide_frame() -> None:
    cpu = series((10, 12), (150, 3), (10, 30))  # cpu_pct can exceed 100
    found = find_incidents(wide_frame(cpu))
    assert found == [Incident("bbvm1", "cpu_pct", T0 + pd.Timedelta(minutes=60), 12, None, False)]


def test_recurring_same_time_of_day_a_day_later() -> None:
    t = T0.value
    times = np.array(
        [
            t,  # first: nothing earlier
            t + 6 * 3600 * 10**9,  # same day: not a day before
            t + DAY_NS + 25 * MIN,  # next day, 25 min later in the day: recurring
            t + 2 * DAY_NS + 3 * 3600 * 10**9,  # 3 h off any earlier time of day
        ]
    )
    assert recurring_flags(times).tolist() == [False, False, True, False]


def test_recurring_time_of_day_wraps_midnight() -> None:
    late = pd.Timestamp("2013-08-01 23:50", tz="UTC").value
    early = pd.Timestamp("2013-08-03 00:10", tz="UTC").value
    assert recurring_flags(np.array([late, early])).tolist() == [False, True]


def test_find_incidents_marks_recurring() -> None:
    day = 288
    cpu = np.full(3 * day, 10.0)
    cpu[100:103] = 99.0
    cpu[day + 104 : day + 107] = 99.0  # 20 min later in the day
    found = find_incidents(wide_frame(cpu))
    assert [(i.step, i.recurring) for i in found] == [(100, False), (day + 104, True)]


def test_origins_on_the_clock_after_a_day() -> None:
    stamps = (
        pd.date_range(T0 + pd.Timedelta(minutes=5), periods=400, freq="5min").as_unit("ns").asi8
    )
    origins = origin_steps(stamps, every_min=30)
    assert origins[0] >= 288
    assert all(stamps[o] % (30 * MIN) == 0 for o in origins)
    assert np.all(np.diff(origins) == 6)
    assert span_days(stamps, origins) == pytest.approx(
        (stamps[-1] + STEP_NS - stamps[origins[0]]) / DAY_NS
    )
    with pytest.raises(ValueError):
        origin_steps(stamps, every_min=7)


def incident(at: pd.Timestamp, prev_high_at: pd.Timestamp | None = None, **kw: object) -> Incident:
    return Incident("s1", "cpu_pct", at, 0, prev_high_at, **kw)  # type: ignore[arg-type]


def hourly_states(start: pd.Timestamp, flags: list[bool]) -> AlertSeries:
    times = pd.date_range(start, periods=len(flags), freq="1h").as_unit("ns").asi8
    return AlertSeries(times, np.array(flags))


def test_warned_with_lead_from_the_first_open_origin() -> None:
    at = T0 + pd.Timedelta(hours=10)
    # Origins hourly from T0; open at 03:00 (7 h before: in the window), 05:00 and 06:00.
    flags = [False] * 12
    flags[1] = True  # 9 h before: outside the 8 h window
    flags[3] = flags[5] = flags[6] = True
    states = {"s1": hourly_states(T0, flags)}
    quality = judge_rule([incident(at)], states, alert_every_min=60, server_days=1.0)
    assert quality.warned == 1
    assert quality.warned_share == 1.0
    assert quality.median_lead_min == 7 * 60


def test_alert_open_only_during_the_earlier_saturation_does_not_count() -> None:
    at = T0 + pd.Timedelta(hours=6)
    prev_high = T0 + pd.Timedelta(hours=2)  # previous saturation's last step starts 02:00
    flags = [False] * 8
    flags[2] = True  # origin 02:00: before the step ended
    states = {"s1": hourly_states(T0, flags)}
    quality = judge_rule([incident(at, prev_high)], states, alert_every_min=60, server_days=1.0)
    assert quality.warned == 0
    assert quality.median_lead_min is None
    # An origin exactly at the end of that step (02:05) still has it as newest reading.
    end = AlertSeries(np.array([(prev_high + pd.Timedelta(minutes=5)).value]), np.array([True]))
    assert (
        judge_rule(
            [incident(at, prev_high)], {"s1": end}, alert_every_min=5, server_days=1.0
        ).warned
        == 0
    )
    # Open at 03:00, after the saturation: warned, lead 3 h.
    flags[3] = True
    states = {"s1": hourly_states(T0, flags)}
    quality = judge_rule([incident(at, prev_high)], states, alert_every_min=60, server_days=1.0)
    assert (quality.warned, quality.median_lead_min) == (1, 180.0)


def test_alert_states_per_metric_are_matched_to_that_metric() -> None:
    at = T0 + pd.Timedelta(hours=2)
    states = {("s1", "mem_pct"): hourly_states(T0, [True, False, False])}
    assert judge_rule([incident(at)], states, alert_every_min=60, server_days=1.0).warned == 0
    states = {("s1", "cpu_pct"): hourly_states(T0, [True, False, False])}
    assert judge_rule([incident(at)], states, alert_every_min=60, server_days=1.0).warned == 1


def test_false_alarm_episodes_and_open_hours() -> None:
    # Hourly origins over 2 days; one incident at hour 30.
    at = T0 + pd.Timedelta(hours=30)
    flags = [False] * 48
    for h in (2, 3, 4):  # episode at 02:00, nothing until 30 h: false, 3 false hours
        flags[h] = True
    for h in (25, 26):  # episode at 25 h: incident 5 h later, true; both hours true
        flags[h] = True
    flags[22] = True  # 8 h before the incident exactly: true (window is inclusive)
    flags[40] = True  # after the incident: false, 1 h
    states = {"s1": hourly_states(T0, flags)}
    quality = judge_rule([incident(at)], states, alert_every_min=60, server_days=2.0)
    assert quality.alert_episodes == 4
    assert quality.false_episodes == 2
    assert quality.false_per_100_server_days == pytest.approx(100.0)
    assert quality.false_on_hours == pytest.approx(4.0)
    assert quality.false_on_hours_per_server_day == pytest.approx(2.0)


def test_recurring_split_and_json_keys() -> None:
    at = T0 + pd.Timedelta(hours=3)
    later = T0 + pd.Timedelta(days=1, hours=3)
    incidents = [incident(at), incident(later, recurring=True)]
    states = {"s1": AlertSeries(np.array([later.value - 60 * MIN]), np.array([True]))}
    quality = judge_rule(incidents, states, alert_every_min=60, server_days=2.0)
    assert quality.warned_share == 0.5
    assert quality.warned_share_recurring == 1.0
    assert quality.warned_share_nonrecurring == 0.0
    assert set(quality.to_json()) == {
        "incidents",
        "warned_share",
        "median_lead_min",
        "false_per_100_server_days",
        "false_on_hours_per_server_day",
        "warned_share_recurring",
        "warned_share_nonrecurring",
    }


def test_no_incidents_gives_none_not_zero() -> None:
    quality = judge_rule([], {}, alert_every_min=60, server_days=0.0)
    assert quality.to_json()["warned_share"] is None
    assert quality.warned_share_recurring is None
    assert quality.false_per_100_server_days is None


def test_alert_states_from_rows_and_judgeable() -> None:
    rows = [("s1", T0 + pd.Timedelta(hours=1), True), ("s1", T0, False)]
    states = alert_states_from_rows(rows)
    assert states["s1"].times_ns.tolist() == [T0.value, T0.value + 60 * MIN]
    assert states["s1"].open.tolist() == [False, True]
    early, late = incident(T0), incident(T0 + pd.Timedelta(days=2))
    assert judgeable([early, late], {"s1": T0 + pd.Timedelta(days=1)}) == [late]
    with pytest.raises(ValueError):
        AlertSeries(np.array([2, 1]), np.array([True, False]))


def test_alert_series_takes_datetime64() -> None:
    stamps = pd.date_range(T0, periods=2, freq="1h").to_numpy()
    assert AlertSeries(stamps, np.array([True, False])).times_ns[0] == T0.value
