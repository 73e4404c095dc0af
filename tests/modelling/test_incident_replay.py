"""The product's replayed alerts on a hand-made server with a daily CPU job: a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inference_worker.baseline_forecaster import SeasonalNaiveTrend
from modelling.alert_replay import server_arrays, window_at
from modelling.incident_replay import RULE_NAMES, evaluate_alerts, write_alerts_jsonl
from schemas.alert import AlertEvent
from schemas.common import METRICS

T0 = pd.Timestamp("2013-08-01 00:00", tz="UTC")
DAYS = 3


def server(name: str, cpu: np.ndarray, stamps: pd.DatetimeIndex) -> pd.DataFrame:
    frame = pd.DataFrame({"server_id": name, "timestamp": stamps})
    for metric in METRICS:
        frame[metric] = np.nan  # unmeasured
    frame["cpu_pct"] = cpu
    frame["mem_pct"] = 40.0
    return frame


def daily_job_frame() -> pd.DataFrame:
    """Two servers over 3 days, CPU 20 % and memory 40 % but:

    - bbvm1: a daily job, CPU 99 % from 10:00 to 10:30 every day (incidents at 10:00);
    - bbvm2: on day 2 a leak, CPU climbing 0.5 a step from 06:00, reaching 95 at 18:30,
      held at 99 until 19:00 (the incident at 18:30), then back to 20.
    """
    stamps = pd.date_range(T0, periods=DAYS * 288, freq="5min")
    minute = np.asarray(stamps.hour * 60 + stamps.minute)
    job = np.where((minute >= 600) & (minute < 630), 99.0, 20.0)
    leak = np.full(len(stamps), 20.0)
    start = 288 + 72  # day 2, 06:00
    leak[start : start + 150] = 20.0 + 0.5 * np.arange(150)
    leak[start + 150 : start + 156] = 99.0
    return pd.concat([server("bbvm1", job, stamps), server("bbvm2", leak, stamps)],
                     ignore_index=True)


@pytest.fixture(scope="module")
def evaluation():
    return evaluate_alerts(daily_job_frame(), SeasonalNaiveTrend(), 30)


def test_incidents_after_the_first_day_are_judged(evaluation) -> None:
    # Day 1's job comes before the first origin (24 h of history): not judgeable.
    assert [(i.server_id, str(i.at)) for i in evaluation.incidents] == [
        ("bbvm1", "2013-08-02 10:00:00+00:00"), ("bbvm1", "2013-08-03 10:00:00+00:00"),
        ("bbvm2", "2013-08-02 18:30:00+00:00")]
    assert [i.recurring for i in evaluation.incidents] == [True, True, False]
    assert evaluation.server_days == pytest.approx(4.0)
    assert set(evaluation.rules) == set(RULE_NAMES)


def lead(evaluation, rule: str, server: str) -> float | None:
    """The rule's lead on ``server``'s first judged incident, from its warned incidents."""
    from modelling.incident_replay import product_states
    from modelling.incidents import warning_lead_min

    incident = next(i for i in evaluation.incidents if i.server_id == server)
    states = product_states(evaluation.replay, "warning" if rule.endswith("warning")
                            else "danger")
    return warning_lead_min(incident, states[server])


def test_the_product_warns_the_leak_before_the_threshold_rules(evaluation) -> None:
    rules = evaluation.rules
    # The baseline's damped trend reaches warning (p50 >= 85) hours ahead, critical later.
    warning = lead(evaluation, "fleetcast_warning", "bbvm2")
    danger = lead(evaluation, "fleetcast_danger", "bbvm2")
    assert warning is not None and danger is not None
    assert warning >= 180 and 30 < danger < warning
    # static_90 opens at the 18:00 origin (17:55 read 91): 30 minutes ahead.
    assert rules["static_90"].warned == 1 and rules["static_90"].median_lead_min == 30.0
    assert rules["predict_linear"].warned == 1
    assert 30 < rules["predict_linear"].median_lead_min < warning


def test_seasonal_naive_warns_the_daily_job_the_product_does_not(evaluation) -> None:
    # Yesterday's 10:00 job enters the next 8 h at the 02:30 origin (02:00 covers up to
    # 09:55): 450 minutes ahead, both days.
    assert evaluation.rules["seasonal_naive"].warned == 2
    assert evaluation.rules["seasonal_naive"].median_lead_min == 450.0
    assert evaluation.rules["seasonal_naive"].warned_share_recurring == 1.0
    # The baseline forecaster needs a day plus 2 h of context for its seasonal part; the
    # product's 24 h windows give it none, so it sees a flat line before the job.
    assert lead(evaluation, "fleetcast_warning", "bbvm1") is None


def test_anchor_false_alarms_follow_the_definitions(evaluation) -> None:
    static = evaluation.rules["static_90"]
    # bbvm1: open once a day at the 10:30 origin (10:25 read 99) with no incident in the next
    # 8 h: 2 false episodes and 1 h over 4 server-days. bbvm2's episode opens before its
    # incident (not false) and is still open at 19:00 (18:55 read 99), with no incident in
    # the next 8 h: half an hour more, but no new episode.
    assert static.false_episodes == 2
    assert static.false_per_100_server_days == pytest.approx(50.0)
    assert static.false_on_hours_per_server_day == pytest.approx(1.5 / 4)


def test_calibration_pairs_score_the_8h_probability(evaluation) -> None:
    cal = evaluation.calibration
    # 2 servers x 2 metrics x 96 origins (every 30 min over days 2 and 3).
    assert cal["pairs_8h"] == 2 * 2 * 96
    # Incident within 8 h: bbvm1's cpu at the 02:00-10:00 origins (17 a day, 2 days),
    # bbvm2's cpu at 10:30-18:30 (17).
    assert cal["base_rate_8h"] == pytest.approx(3 * 17 / 384)
    assert 0.0 <= cal["brier_8h"] <= 1.0
    rate = cal["base_rate_8h"]
    assert cal["brier_climatology_8h"] == pytest.approx(rate * (1 - rate))


def test_alerts_jsonl_lines_are_alert_events_issued_at_window_ends(evaluation, tmp_path) -> None:
    path = write_alerts_jsonl(evaluation.replay.events, tmp_path / "alerts.jsonl")
    events = [AlertEvent.model_validate_json(line) for line in path.read_text().splitlines()]
    assert events and events == evaluation.replay.events
    leak = [e for e in events if e.server_id == "bbvm2"]
    first = leak[0]
    assert (first.status, first.metric, first.severity) == ("firing", "cpu_pct", "warning")
    assert first.issued_at < pd.Timestamp("2013-08-02 15:30", tz="UTC")
    danger = next(e for e in leak if e.severity == "danger")
    assert danger.predicted_breach_at is not None
    assert danger.issued_at < danger.predicted_breach_at
    assert all(pd.Timestamp(e.issued_at).minute in (0, 30) for e in events)


def test_a_resumed_replay_gives_the_same_answer(tmp_path) -> None:
    frame = daily_job_frame()
    first = evaluate_alerts(frame, SeasonalNaiveTrend(), 30, checkpoint_dir=tmp_path)
    assert len(list(tmp_path.glob("chunk-*.json"))) == 1
    again = evaluate_alerts(frame, SeasonalNaiveTrend(), 30, checkpoint_dir=tmp_path)
    assert again.replay.events == first.replay.events
    assert {k: v.to_json() for k, v in again.rules.items()} == {
        k: v.to_json() for k, v in first.rules.items()}
    assert again.calibration == first.calibration


def test_a_window_counts_steps_with_no_reading_as_unobserved() -> None:
    frame = daily_job_frame()
    frame.loc[10:19, ["cpu_pct", "mem_pct"]] = np.nan
    stamps, values = server_arrays(frame)["bbvm1"]
    window = window_at("bbvm1", stamps, values, 287, 288)
    assert window.observed_steps == 278
    assert window.end == pd.Timestamp("2013-08-02 00:00", tz="UTC")
    assert window.values["cpu_pct"][10] is None and window.values["cpu_pct"][20] == 20.0


def test_the_replay_scores_with_the_model_s_calibration_as_the_worker_does(tmp_path) -> None:
    from inference_worker.breach import BreachCalibration, Calibration

    frame = daily_job_frame()
    # A calibration that says "never": the forecast can no longer raise an alert by itself.
    never = BreachCalibration(p_30m=Calibration(y=(0.0, 0.0)), p_8h=Calibration(y=(0.0, 0.0)))
    plain = evaluate_alerts(frame, SeasonalNaiveTrend(), 30, checkpoint_dir=tmp_path)
    calibrated = evaluate_alerts(frame, SeasonalNaiveTrend(), 30, calibration=never,
                                 checkpoint_dir=tmp_path)

    assert any(e.cause == "forecast" for e in plain.replay.events)
    assert not any(e.cause == "forecast" for e in calibrated.replay.events)
    assert all(e.p_8h in (None, 0.0, 1.0) for e in calibrated.replay.events)
    assert len(list(tmp_path.glob("chunk-*.json"))) == 2  # a checkpoint per calibration
    assert calibrated.calibrated and not plain.calibrated
