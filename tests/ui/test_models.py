"""The pure pieces under the views: probabilities, the history ring, the read model's new
reads, pipeline arithmetic, cost and runbooks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.control_event import ControlEvent
from schemas.severity import SEVERITIES
from tests.ui.factories import T0, make_alert, make_forecast
from ui.fleet_state import FleetState
from ui.pipeline_monitor import lag_of, percentile, rate
from ui.remediation import DEFAULT_RUNBOOKS, cost_summary, hints, load_runbooks
from ui.risk import fleet_probability, format_probability
from ui.series import SeriesRing


def test_the_fleet_state_shows_the_worker_s_probabilities_not_its_own() -> None:
    state = FleetState()
    forecast = make_forecast("ppml0001", 10.0).model_copy(
        update={"p_incident_30m": 0.02, "p_incident_8h": 0.6})
    other = make_forecast("ppdb001", 10.0).model_copy(
        update={"p_incident_30m": 0.0, "p_incident_8h": 0.5})

    state.apply_forecast(forecast)
    state.apply_forecast(other)

    chances = state.incident_chances()
    assert chances["p_30m"] == pytest.approx(0.02)
    assert chances["p_8h"] == pytest.approx(1 - 0.4 * 0.5)


def test_fleet_probability_and_its_text() -> None:
    assert fleet_probability([]) == 0.0
    assert fleet_probability([0.5, 0.5]) == pytest.approx(0.75)
    assert [format_probability(p) for p in (0.0, 0.004, 0.5, 0.9996)] == [
        "0%", "<1%", "50%", ">99%"]


def test_series_ring_is_bounded_replaces_the_newest_and_drops_old_rows() -> None:
    ring = SeriesRing(capacity=3, columns=2)
    for t in range(5):
        ring.put(t * 300, [t, -t])
    ring.put(1200, [9, 9])  # the newest again: replaced

    times, rows = ring.view()
    assert times.tolist() == [600, 900, 1200]
    assert rows[:, 0].tolist() == [2, 3, 9]
    ring.drop_before(1000)
    assert ring.view()[0].tolist() == [1200]


def test_metric_history_keeps_the_last_values_per_step() -> None:
    state = FleetState(history_steps=4)
    for step in range(6):
        state.apply_forecast(make_forecast("ppdb001", 10.0 + step, step=step))

    times, values = state.metric_history("ppdb001")

    assert times == [T0 + timedelta(minutes=5 * s) for s in range(2, 6)]
    assert values["cpu_pct"].tolist() == [50.0] * 4
    assert state.metric_history("nope") == ([], {name: pytest.approx([]) for name in values})


def test_fleet_history_snapshots_each_step_as_the_fleet_moves_past_it() -> None:
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001", 10.0, step=0))
    state.apply_forecast(make_forecast("ppdb002", 75.0, step=0))
    state.apply_forecast(make_forecast("ppdb001", 95.0, step=1))

    history = state.fleet_history()

    assert [p["start"] for p in history] == [T0, T0 + timedelta(minutes=5)]
    assert history[0]["counts"]["danger"] == 1
    assert history[0]["counts"]["healthy"] == 1
    assert history[1]["counts"]["imminent_failure"] == 1
    assert history[1]["max_risk"] == 95.0
    assert list(history[1]["counts"]) == list(SEVERITIES)


def test_fleet_history_covers_24_hours() -> None:
    state = FleetState()
    for step in range(0, 400, 10):
        state.apply_forecast(make_forecast("ppdb001", 10.0, step=step))
    starts = [p["start"] for p in state.fleet_history()]
    assert starts[-1] - starts[0] <= timedelta(hours=24)


def test_overrides_track_named_and_fleet_wide_commands() -> None:
    state = FleetState()
    state.apply_control(ControlEvent(scenario="memory_leak", servers=["ppdb001", "ppdb002"]), T0)
    state.apply_control(ControlEvent(scenario="healthy", servers=["ppdb002"]), T0)

    fleet, servers = state.overrides()

    assert fleet is None
    assert {sid: o.scenario for sid, o in servers.items()} == {"ppdb001": "memory_leak"}


def test_episodes_record_the_peak_and_the_warning_ahead() -> None:
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001", 72.0, breach_in=timedelta(hours=3)))
    breach = T0 + timedelta(hours=3)
    state.apply_alert(make_alert("ppdb001", severity="warning", minute=0)
                      .model_copy(update={"predicted_breach_at": breach}))
    state.apply_alert(make_alert("ppdb001", severity="critical", risk=85.0, minute=5))
    state.apply_alert(make_alert("ppdb001", "resolved", severity="healthy", minute=9))

    [episode] = state.episodes()

    assert (episode.peak, episode.resolved, episode.lead_s) == ("critical", True, 3 * 3600)
    summary = cost_summary(state.episodes(), cost_per_incident=1000.0)
    assert (summary.incidents, summary.warned, summary.avoided) == (1, 1, 1000.0)
    assert summary.warning_hours == pytest.approx(3.0)


def test_listeners_hear_accepted_payloads_only_until_stopped() -> None:
    state = FleetState()
    heard: list[str] = []
    stop = state.listen(lambda kind, payload: heard.append(f"{kind}:{payload.server_id}"))
    state.apply_forecast(make_forecast("ppdb001"))
    state.apply_forecast(make_forecast("ppdb001"))  # a duplicate: not heard
    state.apply_alert(make_alert("ppdb001"))
    stop()
    state.apply_alert(make_alert("ppdb002"))

    assert heard == ["forecast:ppdb001", "alert:ppdb001"]


def test_a_failing_listener_does_not_stop_the_state() -> None:
    state = FleetState()
    state.listen(lambda kind, payload: 1 / 0)
    assert state.apply_forecast(make_forecast("ppdb001"))
    assert state.server_count() == 1


def test_pipeline_arithmetic() -> None:
    assert lag_of({0: 100, 1: 50}, {0: 90, 1: 50}) == 10
    assert lag_of({0: 100}, {}) is None
    assert lag_of({0: 100, 1: 20}, {0: 100}) == 20  # a partition never committed
    assert rate([(0.0, 100), (2.0, 300)]) == 100.0
    assert rate([(0.0, 100)]) == 0.0
    assert percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert percentile([], 50) is None


def test_runbooks_put_the_profile_first_and_load_overrides(tmp_path) -> None:
    database = hints(DEFAULT_RUNBOOKS, "disk_pct", "database")
    assert database[0].startswith("Archive or purge")
    assert database[-1] == DEFAULT_RUNBOOKS["disk_pct"]["*"][-1]
    assert hints(DEFAULT_RUNBOOKS, None, "database") == []

    path = tmp_path / "runbooks.yaml"
    path.write_text("disk_pct:\n  database: [Page the DBA.]\ngpu_temp:\n  '*': [Check fans.]\n")
    books = load_runbooks(str(path))
    assert hints(books, "disk_pct", "database")[0] == "Page the DBA."
    assert hints(books, "gpu_temp", "ml_compute") == ["Check fans."]
