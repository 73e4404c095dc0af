"""The pure pieces under the views: probabilities, the history ring, the read model's new
reads, pipeline arithmetic, cost and runbooks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.severity import SEVERITIES
from tests.ui.factories import T0, applied, make_alert, make_forecast, refused
from ui.fleet_state import FleetState
from ui.pipeline_monitor import lag_of, percentile, progress, rate
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


def test_overrides_are_what_the_simulator_applied_and_refusals_are_kept() -> None:
    state = FleetState()
    state.apply_scenario(applied("ppdb001", "disk_fill", "degrading"), T0)
    state.apply_scenario(applied("ppdb002", "memory_leak", "memory_leak"), T0)
    state.apply_scenario(applied("ppdb002", "recovery", "healthy"), T0)  # on its way back
    state.apply_scenario(refused("critical", "unknown server(s) 'nope'", 10_000), T0)

    assert {sid: o.scenario for sid, o in state.overrides().items()} == {"ppdb001": "disk_fill"}
    (refusal,) = state.refusals()
    assert (refusal.scenario, refusal.servers_named) == ("critical", 10_000)
    assert "nope" in refusal.reason


def test_the_read_model_caps_its_servers_evicting_the_silent_and_counting() -> None:
    now = T0.timestamp() + 7200
    state = FleetState(max_servers=3, silent_after_s=600, clock=lambda: now)
    old = [make_forecast(f"ppold{i:03d}").model_copy(update={"issued_at": T0})
           for i in range(2)]
    live = make_forecast("pplive01").model_copy(update={"issued_at": T0 + timedelta(hours=2)})
    fresh = [make_forecast(f"ppnew{i:03d}").model_copy(
        update={"issued_at": T0 + timedelta(hours=2)}) for i in range(4)]
    for forecast in [*old, live, *fresh]:
        state.apply_forecast(forecast)

    # The two silent for 2 h made room for two newcomers; then the cap held.
    assert state.server_ids() == ["pplive01", "ppnew000", "ppnew001"]
    assert (state.evicted, state.refused) == (2, 2)
    assert state.apply_forecast(make_forecast("pplive01", step=1).model_copy(
        update={"issued_at": T0 + timedelta(hours=2)})), "a held server is always updated"


def test_a_forged_issue_time_cannot_keep_a_server_from_eviction() -> None:
    now = [T0.timestamp()]
    state = FleetState(max_servers=1, silent_after_s=600, clock=lambda: now[0])
    state.apply_forecast(make_forecast("ppforged").model_copy(
        update={"issued_at": T0 + timedelta(days=400)}))  # heard now, not in 400 days
    now[0] += 700

    assert state.apply_forecast(make_forecast("ppnew").model_copy(
        update={"issued_at": T0 + timedelta(seconds=700)}))
    assert state.server_ids() == ["ppnew"] and state.evicted == 1


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


def test_a_stage_waits_from_its_input_growing_until_output_or_catching_up() -> None:
    start = progress(None, input_end=10, output_end=5, caught_up=False, now=0.0)
    assert start.waiting_since is None, "the first sample has nothing to compare with"
    quiet = progress(start, 10, 5, False, now=2.0)
    assert quiet.waiting_since is None, "no new input: nothing waits"
    waiting = progress(progress(quiet, 12, 5, False, now=4.0), 15, 5, False, now=6.0)
    assert waiting.waiting_since == 4.0, "since the first input without output"
    assert progress(waiting, 16, 6, False, now=8.0).waiting_since is None, "output came"
    assert progress(waiting, 16, 5, True, now=8.0).waiting_since is None, "all committed"
