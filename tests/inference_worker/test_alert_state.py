"""Open alerts outlive the inference worker (issue 12, row 6).

A server that fired and then recovers is resolved under the alert_id that
fired, after a ``kill -9`` of the worker or a rebalance to another worker,
and no second alert_id opens for the same episode. Each test fires alerts,
waits until the windows that fired them are committed (so only the
alert-state topic, not a redelivered window, can carry the alerts over),
moves the servers to a fresh worker, then sends one more alarming window
(same severity: nothing to say, where a worker without the state opens a new
alert_id) and a healthy one (resolved).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from core.kafka import make_consumer, make_producer
from core.settings import Settings
from inference_worker.alert_state import load_open_alerts
from schemas.alert import AlertEvent, OpenAlert
from schemas.forecast import Forecast
from tests.conftest import SettingsFactory
from tests.helpers import ServiceProcess, TopicReader
from tests.inference_worker.broker_helpers import Running, publish, window_message
from tests.inference_worker.factories import STEP, T0

pytestmark = pytest.mark.broker

WAIT_S = 60.0
HOT = {"cpu_pct": 99.0}
#: Enough servers that every one of the six windows partitions holds some.
SERVERS = ["ppdb001", "ppweb001", *(f"ppsrv{n:03d}" for n in range(1, 19))]
Reader = Callable[[Settings, str], TopicReader]


def alerts_of(reader: TopicReader) -> list[AlertEvent]:
    return [AlertEvent.model_validate_json(m.value() or b"") for m in reader.messages]


def scored_step(reader: TopicReader, step: int) -> set[str]:
    """The servers with a forecast of the window of ``step``."""
    start = T0 + step * STEP
    return {f.server_id for f in (Forecast.model_validate_json(m.value() or b"")
                                  for m in reader.messages) if f.start == start}


def send_step(settings: Settings, step: int, forecasts: TopicReader, **series: float) -> None:
    """Every server's window of ``step``, then wait until each is forecast (so none coalesce)."""
    publish(settings, [window_message(s, step, **series) for s in SERVERS])
    forecasts.wait_for(lambda _: scored_step(forecasts, step) == set(SERVERS), WAIT_S)


def wait_committed(settings: Settings, count: int) -> None:
    """Until the worker group has committed ``count`` windows: none will be redelivered."""
    consumer = make_consumer(settings, settings.infer_group_id)
    parts = [TopicPartition(settings.topic_windows, p) for p in range(6)]
    deadline = time.monotonic() + WAIT_S
    try:
        while sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10)) < count:
            assert time.monotonic() < deadline, "the windows were not committed in time"
            time.sleep(0.2)
    finally:
        consumer.close()


def fire(settings: Settings, forecasts: TopicReader, alerts: TopicReader) -> dict[str, str]:
    """Every server fires; returns server -> alert_id once the windows are committed."""
    send_step(settings, 1, forecasts, **HOT)
    alerts.wait_for(lambda ms: len(ms) >= len(SERVERS), WAIT_S)
    fired = {a.server_id: a.alert_id for a in alerts_of(alerts)}
    assert set(fired) == set(SERVERS) and {a.status for a in alerts_of(alerts)} == {"firing"}
    wait_committed(settings, len(SERVERS))
    return fired


def recover_and_check(settings: Settings, forecasts: TopicReader, alerts: TopicReader,
                      fired: dict[str, str]) -> None:
    """Still hot (nothing new), then healthy: each original alert resolves, no other id opens."""
    send_step(settings, 2, forecasts, **HOT)
    send_step(settings, 3, forecasts)
    alerts.wait_for(
        lambda _: {a.server_id for a in alerts_of(alerts) if a.status == "resolved"}
        == set(SERVERS), WAIT_S)
    events = alerts_of(alerts)
    assert {a.alert_id for a in events} == set(fired.values()), "no second alert_id opened"
    resolved = [a for a in events if a.status == "resolved"]
    assert {a.server_id: a.alert_id for a in resolved} == fired
    assert set(Counter(a.alert_id for a in resolved).values()) == {1}
    # Nothing is left open on the state topic either.
    assert load_open_alerts(settings, range(6), reject=_no_reject) == []


def _no_reject(message: object, reason: str) -> None:
    raise AssertionError(f"a state record was rejected: {reason}")


@pytest.mark.slow
def test_a_killed_worker_is_followed_by_one_that_resolves_the_original_alerts(
    make_settings: SettingsFactory, read_topic: Reader, tmp_path: Path
) -> None:
    settings = make_settings(batch_size=64, batch_deadline_ms=50, metrics_port_infer=0)
    forecasts = read_topic(settings, settings.topic_forecasts)
    alerts = read_topic(settings, settings.topic_alerts)
    log = tmp_path / "infer.log"
    first = ServiceProcess(settings, "infer", log_path=str(log))
    try:
        fired = fire(settings, forecasts, alerts)
    finally:
        first.kill()  # SIGKILL: no shutdown hook, nothing flushed on the way out
    second = ServiceProcess(settings, "infer", log_path=str(log))
    try:
        recover_and_check(settings, forecasts, alerts, fired)
    finally:
        second.stop()
    assert "Traceback" not in log.read_text()
    assert f"open alerts of windows partitions [0, 1, 2, 3, 4, 5]: {len(SERVERS)}" in (
        log.read_text())


def held(worker: Running) -> set[int]:
    return set(worker.worker.partitions)


def test_a_rebalance_hands_the_open_alerts_to_the_new_owner(
    make_settings: SettingsFactory, read_topic: Reader,
    start_worker: Callable[[Settings], Running],
) -> None:
    settings = make_settings(batch_size=64, batch_deadline_ms=50)
    forecasts = read_topic(settings, settings.topic_forecasts)
    alerts = read_topic(settings, settings.topic_alerts)
    a = start_worker(settings)
    fired = fire(settings, forecasts, alerts)
    b = start_worker(settings)
    deadline = time.monotonic() + WAIT_S
    while not (held(a) and held(b) and held(a) | held(b) == set(range(6))):
        assert time.monotonic() < deadline, f"not shared: {held(a)} {held(b)}"
        time.sleep(0.2)
    assert not held(a) & held(b)
    recover_and_check(settings, forecasts, alerts, fired)
    # Both resolved some: the servers of B's partitions had fired on A.
    moved = {m.key().decode() for m in forecasts.messages if m.partition() in held(b)}
    assert moved and moved != set(SERVERS)


def test_the_state_topic_is_read_to_its_end_with_tombstones_and_bad_records_rejected(
    settings: Settings,
) -> None:
    def open_alert(server: str, alert_id: str) -> bytes:
        return OpenAlert(alert_id=alert_id, server_id=server, severity="danger",
                         opened_at=T0).to_bytes()

    producer = make_producer(settings)
    records = [(b"ppdb001", open_alert("ppdb001", "a-1")), (b"ppdb001", None),  # resolved
               (b"ppweb001", open_alert("ppweb001", "a-2")),
               (b"ppweb001", open_alert("ppweb001", "a-3")),  # the same one, later
               (b"ppsrv001", b'{"not": "an open alert"}'),
               (b"ppsrv002", open_alert("ppsrv009", "a-4")),  # under the wrong key
               (None, open_alert("ppsrv003", "a-5"))]
    # One flush, one record batch: its last records lie past the high watermark the
    # embedded broker reports, and must be read all the same.
    for key, value in records:
        producer.produce(settings.topic_alert_state, key=key, value=value, partition=4)
    producer.produce(settings.topic_alert_state, key=b"ppsrv004",
                     value=open_alert("ppsrv004", "a-6"), partition=1)
    assert producer.flush(10) == 0
    rejected: list[str] = []
    loaded = load_open_alerts(settings, [4], lambda _, reason: rejected.append(reason))
    assert [(a.server_id, a.alert_id) for a in loaded] == [("ppweb001", "a-3")]
    assert len(rejected) == 3
    assert "invalid open alert" in rejected[0]
    assert "ppsrv009 under key b'ppsrv002'" in rejected[1]
    assert "without a key" in rejected[2]
    assert [a.alert_id for a in load_open_alerts(settings, [1, 2], _no_reject)] == ["a-6"]
