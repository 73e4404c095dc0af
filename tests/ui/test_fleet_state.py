"""FleetState without Kafka: folding forecasts and alerts in, and reading them back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from core.settings import Settings
from schemas.severity import SEVERITIES
from tests.ui.factories import make_alert, make_forecast
from ui.feed import FleetFeed
from ui.fleet_state import FleetState


def test_fleet_is_sorted_by_risk_with_the_listed_fields() -> None:
    state = FleetState()
    for server_id, risk in [("ppdb001", 20.0), ("ppweb001", 95.0), ("ppml0001", 55.0)]:
        state.apply_forecast(make_forecast(server_id, risk, breach_in=timedelta(hours=2)))

    rows = state.fleet()

    assert [row["server_id"] for row in rows] == ["ppweb001", "ppml0001", "ppdb001"]
    top = rows[0]
    assert top["profile"] == "web_api"
    assert top["severity"] == "imminent_failure"
    assert top["risk_score"] == 95.0
    assert top["risk_metric"] == "cpu_pct"
    assert top["status"] == "ok"
    assert top["breach_in_s"] == 7200.0
    assert top["predicted_breach_at"].startswith("2025-01-06T14:00")
    json.dumps(rows)  # JSON-able as is


def test_equal_risks_are_ordered_by_server_id() -> None:
    state = FleetState()
    for server_id in ["ppdb003", "ppdb001", "ppdb002"]:
        state.apply_forecast(make_forecast(server_id, 40.0))
    assert [row["server_id"] for row in state.fleet()] == ["ppdb001", "ppdb002", "ppdb003"]


def test_newer_forecast_replaces_and_older_one_is_ignored() -> None:
    state = FleetState()
    assert state.apply_forecast(make_forecast(risk=10.0, step=5))
    assert state.apply_forecast(make_forecast(risk=75.0, step=6))
    version = state.version

    assert not state.apply_forecast(make_forecast(risk=99.0, step=4))  # late, out of order

    assert state.version == version
    assert len(state.fleet()) == 1
    assert state.fleet()[0]["risk_score"] == 75.0
    assert [point["risk_score"] for point in state.history("ppdb001")] == [10.0, 75.0]


def test_rescored_window_replaces_without_a_second_entry() -> None:
    state = FleetState()
    state.apply_forecast(make_forecast(risk=10.0, step=1))
    assert state.apply_forecast(make_forecast(risk=62.0, step=1, model_version="v2"))

    assert state.fleet()[0]["risk_score"] == 62.0
    assert len(state.history("ppdb001")) == 1
    assert state.history("ppdb001")[0]["severity"] == "warning"


def test_duplicate_forecast_changes_nothing() -> None:
    state = FleetState()
    forecast = make_forecast(risk=30.0)
    state.apply_forecast(forecast)
    version = state.version

    assert not state.apply_forecast(forecast)
    assert state.version == version
    assert len(state.history("ppdb001")) == 1


def test_server_returns_the_latest_forecast_as_json_or_none() -> None:
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001", 55.0))

    detail = state.server("ppdb001")

    assert detail is not None
    assert detail["severity"] == "degrading"
    assert set(detail["quantiles"]["cpu_pct"]) == {"p10", "p50", "p90"}
    json.dumps(detail)
    assert state.server("nope") is None
    assert state.history("nope") == []


def test_severity_history_is_bounded_by_steps_and_by_24_hours() -> None:
    state = FleetState(history_steps=10)
    for step in range(25):
        state.apply_forecast(make_forecast(risk=float(step), step=step))
    assert [p["risk_score"] for p in state.history("ppdb001")] == [float(s) for s in range(15, 25)]

    # A server that reports rarely: a day-old point goes even though the deque has room.
    state.apply_forecast(make_forecast("ppweb001", 10.0, step=0))
    state.apply_forecast(make_forecast("ppweb001", 20.0, step=300))  # 25 h later
    assert [p["risk_score"] for p in state.history("ppweb001")] == [20.0]


def test_warming_up_servers_carry_their_context_progress() -> None:
    state = FleetState()
    state.apply_forecast(make_forecast(risk=0.0, status="warming_up", context_steps=12))

    row = state.fleet()[0]

    assert row["status"] == "warming_up"
    assert (row["context_steps"], row["min_context_steps"]) == (12, 36)
    assert state.warming_up_count() == 1


def test_severity_counts_cover_every_level_in_order() -> None:
    state = FleetState()
    for index, risk in enumerate([5.0, 10.0, 65.0, 92.0]):
        state.apply_forecast(make_forecast(f"ppdb{index:03d}", risk))

    counts = state.severity_counts()

    assert list(counts) == list(SEVERITIES)
    assert counts["healthy"] == 2
    assert counts["warning"] == 1
    assert counts["imminent_failure"] == 1
    assert sum(counts.values()) == state.server_count() == 4


def test_alert_lifecycle_keeps_the_latest_event_per_alert() -> None:
    state = FleetState()
    state.apply_alert(make_alert(severity="warning", minute=0))
    state.apply_alert(make_alert(severity="critical", risk=85.0, minute=5))
    assert state.firing_count() == 1
    assert state.alerts()[0]["severity"] == "critical"

    state.apply_alert(make_alert(status="resolved", severity="watch", risk=35.0, minute=10))

    assert state.firing_count() == 0
    assert [(a["alert_id"], a["status"]) for a in state.alerts()] == [("ppdb001-1", "resolved")]
    assert len(state.recent_alert_events()) == 3
    assert state.recent_alert_events()[0]["status"] == "resolved"  # newest first


def test_late_or_duplicate_alert_events_do_not_reopen_or_double() -> None:
    state = FleetState()
    firing = make_alert(minute=0)
    resolved = make_alert(status="resolved", severity="watch", minute=10)
    state.apply_alert(firing)
    state.apply_alert(resolved)
    version = state.version

    assert not state.apply_alert(firing)  # redelivered after the resolution
    assert not state.apply_alert(resolved)  # plain duplicate
    assert not state.apply_alert(make_alert(status="firing", minute=10))  # tie: resolution wins

    assert state.version == version
    assert state.alerts(status="firing") == []
    assert len(state.recent_alert_events()) == 2


def test_alert_filters_by_status_and_severity_newest_first() -> None:
    state = FleetState()
    state.apply_alert(make_alert("ppdb001", severity="warning", minute=1))
    state.apply_alert(make_alert("ppdb002", severity="critical", risk=85.0, minute=2))
    state.apply_alert(make_alert("ppdb003", severity="warning", minute=3))
    state.apply_alert(make_alert("ppdb003", "resolved", severity="healthy", risk=5.0, minute=4))

    assert [a["server_id"] for a in state.alerts()] == ["ppdb003", "ppdb002", "ppdb001"]
    assert [a["server_id"] for a in state.alerts(status="firing")] == ["ppdb002", "ppdb001"]
    assert [a["server_id"] for a in state.alerts(severity="warning")] == ["ppdb001"]
    assert [a["server_id"] for a in state.alerts(status="resolved")] == ["ppdb003"]
    assert len(state.alerts(limit=1)) == 1


def test_resolved_alerts_and_recent_events_are_bounded_but_firing_ones_are_kept() -> None:
    state = FleetState(max_resolved_alerts=3, recent_alert_events=5)
    state.apply_alert(make_alert("ppweb001", minute=0))  # stays open throughout
    for n in range(10):
        server_id = f"ppdb{n:03d}"
        state.apply_alert(make_alert(server_id, minute=n + 1))
        state.apply_alert(make_alert(server_id, "resolved", severity="healthy", minute=n + 2))

    resolved = [a["server_id"] for a in state.alerts(status="resolved")]
    assert resolved == ["ppdb009", "ppdb008", "ppdb007"]
    assert [a["server_id"] for a in state.alerts(status="firing")] == ["ppweb001"]
    assert len(state.recent_alert_events()) == 5


def test_version_moves_on_every_change() -> None:
    state = FleetState()
    versions = [state.version]
    state.apply_forecast(make_forecast())
    versions.append(state.version)
    state.apply_alert(make_alert())
    versions.append(state.version)
    assert versions == sorted(set(versions))


def test_concurrent_writers_and_readers_stay_consistent() -> None:
    state = FleetState()
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # re-raised below in the test thread
                errors.append(exc)
        return run

    def write(prefix: str) -> None:
        for step in range(300):
            server_id = f"{prefix}{step % 20:03d}"
            state.apply_forecast(make_forecast(server_id, float(step % 100), step=step))

    def read() -> None:
        # Unlocked dict iteration would fail here with "changed size during iteration".
        for _ in range(300):
            state.fleet()
            state.severity_counts()
            state.history("ppdb001")

    threads = [
        threading.Thread(target=guarded(partial(write, "ppdb"))),
        threading.Thread(target=guarded(partial(write, "ppweb"))),
        threading.Thread(target=guarded(read)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert state.server_count() == 40
    assert sum(state.severity_counts().values()) == 40


def test_feed_counts_undecodable_messages_without_raising() -> None:
    settings = Settings(topic_forecasts="f", topic_alerts="a")
    feed = FleetFeed(settings)

    assert not feed.handle("f", b"{not json")
    assert not feed.handle("a", make_forecast().to_bytes())  # a forecast on the alerts topic
    assert not feed.handle("f", None)
    assert feed.handle("f", make_forecast().to_bytes())
    assert feed.handle("a", make_alert().to_bytes())

    assert (feed.undecodable, feed.applied) == (3, 2)
    assert feed.state.server_count() == 1
    assert feed.state.firing_count() == 1
