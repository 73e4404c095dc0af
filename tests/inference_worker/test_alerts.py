from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from inference_worker.alerts import AlertTracker
from inference_worker.scoring import Risk
from schemas.alert import AlertEvent, OpenAlert
from schemas.severity import severity_for
from tests.inference_worker.factories import STEP, T0

HEALTHY, WATCH, DEGRADING, WARNING, DANGER, CRITICAL = 10.0, 40.0, 55.0, 65.0, 75.0, 85.0


def risk(score: float) -> Risk:
    breach = T0 + 6 * STEP if score >= 70 else None
    return Risk(score, severity_for(score), "cpu_pct", breach, f"risk {score}")


class Server:
    """One server's windows through a tracker, one step apart."""

    def __init__(self, tracker: AlertTracker, server_id: str = "ppsrv001",
                 start: datetime = T0) -> None:
        self.tracker = tracker
        self.server_id = server_id
        self.end = start

    def score(self, value: float, *, advance: bool = True) -> AlertEvent | None:
        if advance:
            self.end += STEP
        return self.tracker.update(
            server_id=self.server_id, profile="generic", risk=risk(value),
            window_end=self.end, issued_at=self.end + timedelta(seconds=3),
            model_version="test",
        )


@pytest.fixture
def server() -> Server:
    return Server(AlertTracker())


def test_rising_to_warning_fires(server: Server) -> None:
    assert server.score(HEALTHY) is None
    event = server.score(WARNING)
    assert event is not None
    assert event.status == "firing"
    assert event.severity == "warning"
    assert event.server_id == "ppsrv001"
    assert event.profile == "generic"
    assert event.risk_score == WARNING
    assert event.metric == "cpu_pct"
    assert event.summary == f"risk {WARNING}"
    assert event.issued_at == server.end + timedelta(seconds=3)
    assert event.model_version == "test"
    assert server.tracker.open_alerts()["ppsrv001"].alert_id == event.alert_id


def test_the_same_severity_again_is_quiet(server: Server) -> None:
    assert server.score(WARNING) is not None
    assert server.score(WARNING) is None
    assert server.score(WARNING + 3) is None  # a different score, the same severity


def test_a_change_of_severity_fires_again_under_the_same_id(server: Server) -> None:
    opened = server.score(WARNING)
    worse = server.score(DANGER)
    assert opened is not None
    assert worse is not None
    assert worse.status == "firing"
    assert worse.severity == "danger"
    assert worse.alert_id == opened.alert_id
    assert worse.predicted_breach_at == T0 + 6 * STEP
    better = server.score(WARNING)  # easing off while still alarming: still the same alert
    assert better is not None
    assert (better.status, better.severity, better.alert_id) == (
        "firing", "warning", opened.alert_id)


def test_falling_below_warning_resolves_under_the_same_id(server: Server) -> None:
    opened = server.score(DANGER)
    resolved = server.score(HEALTHY)
    assert opened is not None
    assert resolved is not None
    assert resolved.status == "resolved"
    assert resolved.alert_id == opened.alert_id
    assert resolved.severity == "healthy"
    assert server.tracker.open_alerts() == {}
    assert server.score(HEALTHY) is None  # nothing more to say


@pytest.mark.parametrize("eased_to", [DEGRADING, WATCH])
def test_easing_to_degrading_or_watch_resolves(server: Server, eased_to: float) -> None:
    assert server.score(WARNING) is not None
    event = server.score(eased_to)
    assert event is not None
    assert event.status == "resolved"


def test_a_new_episode_gets_a_new_id(server: Server) -> None:
    first = server.score(WARNING)
    assert server.score(HEALTHY) is not None
    second = server.score(WARNING)
    assert first is not None
    assert second is not None
    assert second.status == "firing"
    assert second.alert_id != first.alert_id


def test_rescoring_the_same_window_opens_the_same_alert() -> None:
    # After a restart the window is delivered again (at-least-once): the alert
    # it opens is the one opened the first time, not a second one.
    first = Server(AlertTracker()).score(CRITICAL)
    again = Server(AlertTracker()).score(CRITICAL)
    assert first is not None
    assert again is not None
    assert again.alert_id == first.alert_id

    # Redelivered to the same tracker, it says nothing new.
    tracker = AlertTracker()
    replayed = Server(tracker)
    assert replayed.score(CRITICAL) is not None
    assert replayed.score(CRITICAL, advance=False) is None


def test_ids_differ_by_server_and_by_window() -> None:
    tracker = AlertTracker()
    a = Server(tracker, "ppsrv001").score(WARNING)
    b = Server(tracker, "ppsrv002").score(WARNING)
    c = Server(AlertTracker(), "ppsrv001", start=T0 + STEP).score(WARNING)
    assert a is not None
    assert b is not None
    assert c is not None
    assert len({a.alert_id, b.alert_id, c.alert_id}) == 3
    assert set(tracker.open_alerts()) == {"ppsrv001", "ppsrv002"}


@pytest.mark.parametrize("score", [HEALTHY, WATCH, DEGRADING])
def test_below_warning_never_fires(server: Server, score: float) -> None:
    for _ in range(3):
        assert server.score(score) is None
    assert server.tracker.open_alerts() == {}


def test_servers_are_tracked_apart() -> None:
    tracker = AlertTracker()
    one, two = Server(tracker, "ppsrv001"), Server(tracker, "ppsrv002")
    assert one.score(WARNING) is not None
    assert two.score(HEALTHY) is None  # the other server's alert is not resolved by this
    assert set(tracker.open_alerts()) == {"ppsrv001"}


def test_the_tracker_is_bounded() -> None:
    tracker = AlertTracker(max_servers=2)
    for number in range(3):
        assert Server(tracker, f"ppsrv00{number}").score(WARNING) is not None
    assert set(tracker.open_alerts()) == {"ppsrv001", "ppsrv002"}  # the oldest went


# -- seed and export: the open alerts a worker hands on through the alert-state topic ------------


def test_a_seeded_tracker_resolves_under_the_id_that_fired() -> None:
    before = Server(AlertTracker())
    opened = before.score(DANGER)
    assert opened is not None
    exported = list(before.tracker.open_alerts().values())

    after = Server(AlertTracker(), start=before.end)  # a restarted worker, the next window
    after.tracker.seed(exported)
    assert after.score(DANGER) is None, "still open at the same severity: nothing to say"
    worse = after.score(CRITICAL)
    resolved = after.score(HEALTHY)
    assert worse is not None and resolved is not None
    assert (worse.status, worse.alert_id) == ("firing", opened.alert_id)
    assert (resolved.status, resolved.alert_id) == ("resolved", opened.alert_id)
    assert after.tracker.get("ppsrv001") is None


def test_the_exported_alert_is_what_a_restart_needs() -> None:
    server = Server(AlertTracker())
    opened = server.score(WARNING)
    assert opened is not None
    opened_at = server.end
    server.score(DANGER)
    held = server.tracker.get("ppsrv001")
    assert held is not None
    assert (held.alert_id, held.server_id, held.severity, held.opened_at) == (
        opened.alert_id, "ppsrv001", "danger", opened_at)
    assert OpenAlert.model_validate_json(held.to_bytes()) == held


def test_seeding_replaces_what_was_held() -> None:
    tracker = AlertTracker()
    assert Server(tracker, "ppsrv001").score(WARNING) is not None
    kept = OpenAlert(alert_id="a-2", server_id="ppsrv002", severity="critical", opened_at=T0)
    tracker.seed([kept])
    assert tracker.open_alerts() == {"ppsrv002": kept}
    # ppsrv001 went to another worker: healthy here says nothing about it.
    assert Server(tracker, "ppsrv001").score(HEALTHY) is None
    tracker.seed([])
    assert tracker.open_alerts() == {}


def test_seeding_keeps_the_last_record_of_a_server_and_the_bound() -> None:
    tracker = AlertTracker(max_servers=2)
    alerts = [OpenAlert(alert_id=f"a-{n}", server_id=f"ppsrv00{n % 3}", severity="warning",
                        opened_at=T0) for n in range(4)]  # ppsrv000 twice: a-0, then a-3
    tracker.seed(alerts)
    assert {s: a.alert_id for s, a in tracker.open_alerts().items()} == {
        "ppsrv002": "a-2", "ppsrv000": "a-3"}  # ppsrv001 was the oldest
