"""The Faust worker on the real broker: windows, dead letters, and recovery after kill -9."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.kafka import make_producer
from schemas.context_window import ContextWindow
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from stream_processors.windowing import WindowConfig, add_event, new_state, window_of

pytestmark = pytest.mark.broker
_NOW = datetime.now(UTC)
T0 = _NOW.replace(minute=_NOW.minute - _NOW.minute % 5, second=0, microsecond=0) - timedelta(days=2)


def metric(server: str, minute: int) -> MetricEvent:
    return MetricEvent(
        server_id=server, timestamp=T0 + timedelta(minutes=minute),
        cpu_pct=float(minute % 97), mem_pct=40.0 + (minute % 13), latency_ms=20.0 + minute % 5,
    )


def publish(settings, events: list[MetricEvent]) -> None:
    producer = make_producer(settings)
    for e in events:
        producer.produce(settings.topic_metrics, key=e.server_id.encode(), value=e.to_bytes())
    producer.flush(30)


def windows_for(messages, server: str) -> list[ContextWindow]:
    decoded = [ContextWindow.model_validate_json(m.value()) for m in messages]
    return [w for w in decoded if w.server_id == server]


def expected_window(settings, events: list[MetricEvent]) -> ContextWindow:
    config = WindowConfig(settings.step_seconds, settings.context_steps, settings.grace_seconds)
    state = new_state(events[0].server_id)
    for e in events:
        add_event(state, e, config)
    return window_of(state, config)


def test_worker_publishes_windows_and_rebuilds_them_after_kill_9(
    settings, start_worker, read_topic
):
    servers = ["ppdb001", "ppml0001"]
    first = [metric(s, m) for m in range(24 * 60 + 30) for s in servers]
    second = [metric(s, m) for m in range(24 * 60 + 30, 24 * 60 + 50) for s in servers]
    windows = read_topic(settings, settings.topic_windows)
    worker = start_worker()
    publish(settings, first)
    windows.wait_for(
        lambda ms: any(w.end == T0 + timedelta(minutes=24 * 60 + 25)
                       for w in windows_for(ms, "ppml0001")),
        timeout_s=90,
    )
    worker.kill()  # mid-step: minutes 25-29 of the open step are not in the changelog yet
    publish(settings, second)
    start_worker()
    final_end = T0 + timedelta(minutes=24 * 60 + 45)
    windows.wait_for(
        lambda ms: all(any(w.end == final_end for w in windows_for(ms, s)) for s in servers),
        timeout_s=90,
    )
    for server in servers:
        got = [w for w in windows_for(windows.messages, server) if w.end == final_end][-1]
        want = expected_window(settings, [e for e in first + second if e.server_id == server])
        assert got.observed_steps == 288, "the 24 h before came back from the changelog"
        assert got == want, "same window as a run without the crash"


BAD_INPUTS: list[tuple[bytes | None, bytes]] = [
    (b"ppdb001", b"{this is not json"),
    (b"ppdb001", b'{"server_id":"ppdb001","cpu_pct":5}'),  # no timestamp
    (b"ppdb001", b'{"server_id":"ppdb001","timestamp":"2026-01-01T00:00:00Z","cpu_pct":"hot"}'),
    (b"ppdb001", b'{"server_id":"ppdb001","timestamp":"NOW","cpu_pct":NaN}'),
    (b"ppdb001", b'{"server_id":"ppdb001","timestamp":"2026-01-01T00:00:00Z","cpu_pct":Infinity}'),
    (b"ppdb001", b'{"server_id":"ppdb001","timestamp":"2026-01-01T00:00:00Z","cpu_pct":250}'),
    (b"", b'{"server_id":"","timestamp":"2026-01-01T00:00:00Z","cpu_pct":5}'),
    (b"x" * 80, json.dumps({"server_id": "x" * 80, "timestamp": "2026-01-01T00:00:00Z",
                            "cpu_pct": 5}).encode()),
    (b"pp\x1bdb", b'{"server_id":"pp\\u001bdb","timestamp":"2026-01-01T00:00:00Z","cpu_pct":5}'),
    (None, b"\xff\xfe\x00garbage"),
]


def test_bad_input_goes_to_dead_letters_and_good_servers_keep_flowing(
    settings, start_worker, read_topic
):
    dead = read_topic(settings, settings.topic_deadletter)
    windows = read_topic(settings, settings.topic_windows)
    start_worker()
    producer = make_producer(settings)
    good = [metric("ppweb001", m) for m in range(60)]
    for i, e in enumerate(good):
        producer.produce(settings.topic_metrics, key=b"ppweb001", value=e.to_bytes())
        if i < len(BAD_INPUTS):
            key, value = BAD_INPUTS[i]
            producer.produce(settings.topic_metrics, key=key, value=value)
    producer.flush(30)
    letters_raw = dead.wait_for(lambda ms: len(ms) >= len(BAD_INPUTS), timeout_s=90)
    letters = [DeadLetter.model_validate_json(m.value()) for m in letters_raw]
    assert sorted(letter.payload() for letter in letters) == sorted(v for _, v in BAD_INPUTS)
    assert all(letter.stage == "process" and letter.reason for letter in letters)
    assert all(letter.source_topic == settings.topic_metrics for letter in letters)
    windows.wait_for(lambda ms: len(windows_for(ms, "ppweb001")) >= 10, timeout_s=60)
    assert windows_for(windows.messages, "ppweb001")[-1].observed_steps >= 10
