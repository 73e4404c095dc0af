"""Alert forwarders against a local HTTP receiver: what arrives, retries, and dead letters."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY

from core.kafka import make_consumer, make_producer
from core.settings import Settings
from forwarding.delivery import RetryPolicy
from forwarding.payloads import ALERTNAME, AlertmanagerMapper
from forwarding.service import Alertmanager, make_destination, run_forwarder
from schemas.alert import AlertEvent
from schemas.dead_letter import DeadLetter
from tests.helpers import ServiceThread

ISSUED = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
FAST = RetryPolicy(attempts=3, first_delay_s=0.05, timeout_s=5)
WAIT_S = 30.0


def alert(status: str = "firing", severity: str = "warning", *, minutes: int = 0,
          alert_id: str = "a-1", metric: str = "cpu_pct") -> AlertEvent:
    return AlertEvent(
        alert_id=alert_id, server_id="ppdb001", profile="database", status=status,
        severity=severity, risk_score=65.0 if severity == "warning" else 85.0, metric=metric,
        summary=f"cpu_pct {severity}", predicted_breach_at=None,
        issued_at=ISSUED + timedelta(minutes=minutes), model_version="tft-sim-2",
    )


# -- Alertmanager mapping (pure) ------------------------------------------------------------------


def test_firing_maps_to_starts_at_with_the_labels_alertmanager_groups_by():
    [sent] = AlertmanagerMapper().alerts_for(alert())
    assert sent["labels"] == {"alertname": ALERTNAME, "severity": "warning",
                              "server_id": "ppdb001", "profile": "database", "metric": "cpu_pct"}
    assert sent["annotations"]["summary"] == "cpu_pct warning"
    assert sent["startsAt"] == "2024-06-03T10:00:00Z" and "endsAt" not in sent


def test_a_severity_change_ends_the_old_label_set_and_resolved_ends_the_firing_one():
    mapper = AlertmanagerMapper()
    first = alert()
    mapper.sent(first, mapper.alerts_for(first))
    worse = alert(severity="critical", minutes=5)
    ended, started = mapper.alerts_for(worse)
    mapper.sent(worse, [ended, started])
    assert ended["labels"]["severity"] == "warning" and ended["endsAt"] == "2024-06-03T10:05:00Z"
    assert started["labels"]["severity"] == "critical" and "endsAt" not in started
    assert mapper.open_alerts() == [started]
    # Resolved carries the new (low) severity; what ends is the label set that fired.
    [resolved] = mapper.alerts_for(alert("resolved", "watch", minutes=30))
    assert resolved["labels"]["severity"] == "critical"
    assert resolved["endsAt"] == "2024-06-03T10:30:00Z"


def test_alertmanager_url_gets_the_v2_path_once():
    assert Alertmanager.at("http://am:9093").url == "http://am:9093/api/v2/alerts"
    assert Alertmanager.at("http://am:9093/api/v2/alerts").url == "http://am:9093/api/v2/alerts"


@pytest.mark.parametrize("url", ["am:9093", "ftp://am/x", ""])
def test_a_url_that_cannot_work_is_refused(url):
    with pytest.raises(ValueError, match="http"):
        make_destination("webhook", url)


def test_backoff_doubles_up_to_the_cap():
    policy = RetryPolicy(attempts=8, first_delay_s=0.5, max_delay_s=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- on the broker ----------------------------------------------------------------------------


def publish(settings: Settings, *values: bytes) -> None:
    producer = make_producer(settings)
    for value in values:
        producer.produce(settings.topic_alerts, key=b"ppdb001", value=value)
    assert producer.flush(10) == 0


def committed(settings: Settings, group: str) -> int:
    """The total committed offset of ``group`` over the alert topic's partitions."""
    consumer = make_consumer(settings, group)
    try:
        parts = [TopicPartition(settings.topic_alerts, p) for p in range(3)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def forwarded(outcome: str) -> float:
    labels = {"destination": "webhook", "outcome": outcome}
    return REGISTRY.get_sample_value("fleetcast_alerts_forwarded_total", labels) or 0.0


def forward(settings, destination, group, until) -> None:
    """Run the forwarder until ``until()`` holds; fails the test if it never does."""
    service = ServiceThread(lambda stop: run_forwarder(settings, destination, stop,
                                                       policy=FAST, group_id=group))
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=WAIT_S)
        while not until():
            assert datetime.now(UTC) < deadline, "the forwarder did not get there in time"
            service.thread.join(0.1)
    finally:
        service.shut_down()


@pytest.mark.broker
def test_webhook_retries_after_a_500_and_commits_after_delivery(make_settings, http_stub):
    receiver = http_stub([(500, b"busy"), (200, b"ok")])
    settings = make_settings(metrics_port_forward=0)
    events = [alert(), alert(severity="critical", minutes=5), alert("resolved", "watch", minutes=9)]
    publish(settings, *(e.to_bytes() for e in events))
    group = f"fwd-{uuid.uuid4().hex[:8]}"
    destination = make_destination("webhook", receiver.base + "/hook")
    retried_before = forwarded("retried")
    forward(settings, destination, group, lambda: committed(settings, group) == 3)
    assert forwarded("retried") == retried_before + 1
    received = receiver.requests()
    assert len(received) == 4, "the first event twice (500, then 200), the others once"
    assert received[0].body == received[1].body == events[0].to_bytes()
    assert [AlertEvent.model_validate_json(r.body) for r in received[1:]] == events
    assert {r.path for r in received} == {"/hook"}
    assert received[1].headers["Content-Type"] == "application/json"


@pytest.mark.broker
def test_giving_up_dead_letters_with_the_reason_then_commits(make_settings, http_stub, read_topic):
    receiver = http_stub([(503, b"down")])
    settings = make_settings(metrics_port_forward=0)
    letters = read_topic(settings, settings.topic_deadletter)
    publish(settings, alert().to_bytes(), b'{"not": "an alert"}')
    group = f"fwd-{uuid.uuid4().hex[:8]}"
    destination = make_destination("webhook", receiver.base + "/hook")
    forward(settings, destination, group, lambda: committed(settings, group) == 2)
    assert len(receiver.requests()) == FAST.attempts
    letters.wait_for(lambda ms: len(ms) == 2, WAIT_S)
    gave_up, undecodable = (DeadLetter.model_validate_json(m.value()) for m in letters.messages)
    assert gave_up.stage == "forward_webhook" and gave_up.source_topic == settings.topic_alerts
    assert "HTTP 503" in gave_up.reason and "after 3 attempts" in gave_up.reason
    assert gave_up.payload() == alert().to_bytes() and gave_up.offset == 0
    assert "invalid alert event" in undecodable.reason


@pytest.mark.broker
def test_alertmanager_receives_v2_alerts_for_the_lifecycle(make_settings, http_stub):
    receiver = http_stub([(200, b"")])
    settings = make_settings(metrics_port_forward=0)
    publish(settings, alert().to_bytes(), alert(severity="critical", minutes=5).to_bytes(),
            alert("resolved", "watch", minutes=9).to_bytes())
    group = f"fwd-{uuid.uuid4().hex[:8]}"
    forward(settings, make_destination("alertmanager", receiver.base), group,
            lambda: committed(settings, group) == 3)
    posts = [json.loads(r.body) for r in receiver.requests()]
    assert {r.path for r in receiver.requests()} == {"/api/v2/alerts"}
    assert [[(a["labels"]["severity"], "endsAt" in a) for a in post] for post in posts] == [
        [("warning", False)],
        [("warning", True), ("critical", False)],
        [("critical", True)],
    ]
    assert posts[0][0]["startsAt"] == "2024-06-03T10:00:00Z"
    assert posts[2][0]["endsAt"] == "2024-06-03T10:09:00Z"
    assert posts[2][0]["labels"]["server_id"] == "ppdb001"


@pytest.mark.broker
def test_a_restarted_alertmanager_forwarder_ends_the_alert_that_fired_and_resends_the_open(
    make_settings, http_stub
):
    receiver = http_stub([(200, b"")])
    settings = make_settings(metrics_port_forward=0)
    publish(settings, alert(severity="critical").to_bytes(),
            alert(alert_id="a-2", metric="mem_pct", minutes=1).to_bytes())
    group = f"fwd-{uuid.uuid4().hex[:8]}"
    forward(settings, make_destination("alertmanager", receiver.base), group,
            lambda: committed(settings, group) == 2)
    before = len(receiver.requests())
    # Resolved while the forwarder was away; its severity is the new, low one.
    publish(settings, alert("resolved", "watch", minutes=9).to_bytes())

    def posts() -> list[list[dict]]:
        return [json.loads(r.body) for r in receiver.requests()[before:]]

    def ended_and_resent() -> bool:
        sent = [a for post in posts() for a in post]
        return committed(settings, group) == 3 and any(
            a["annotations"]["alert_id"] == "a-2" and "endsAt" not in a for a in sent)

    forward(settings, make_destination("alertmanager", receiver.base), group, ended_and_resent)
    sent = [a for post in posts() for a in post]
    first = [a for a in sent if a["annotations"]["alert_id"] == "a-1"]
    # Re-sent as firing or not (it may be, before the resolve is read), a-1 ends last, and
    # what ends is the label set that fired (critical, since its first event), not "watch".
    assert first and first[-1]["endsAt"] == "2024-06-03T10:09:00Z"
    assert {(a["labels"]["severity"], a["startsAt"]) for a in first} == {
        ("critical", "2024-06-03T10:00:00Z")}
    [resent] = {json.dumps(a, sort_keys=True) for a in sent
                if a["annotations"]["alert_id"] == "a-2"}
    assert json.loads(resent)["startsAt"] == "2024-06-03T10:01:00Z"
