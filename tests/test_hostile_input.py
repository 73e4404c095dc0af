"""Arbitrary bytes and arbitrary JSON on fleetcast.metrics and fleetcast.control.

Property: no stage dies; every input the stage's own decoder rejects lands on
the dead-letter topic with a reason and its original bytes; good events sent
right after still become windows. The pure decoders are fuzzed at volume
without Kafka; the running services get fewer, larger examples.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.kafka import make_producer
from schemas.context_window import ContextWindow
from schemas.control_event import ControlEvent, ReloadModel, is_command
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from stream_processors.decoding import InputRejectedError, decode_metric_event
from tests.helpers import ServiceProcess, ServiceThread, TopicReader

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(
        st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
NEAR_MISS_EVENT = st.fixed_dictionaries(
    {"server_id": st.text(max_size=70) | st.sampled_from(["ppdb001", "ppweb001", ""]),
     "timestamp": st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1),
                               timezones=st.just(UTC)).map(datetime.isoformat)
     | st.text(max_size=30)},
    optional={"cpu_pct": st.floats() | st.text(max_size=5), "mem_pct": st.floats(),
              "latency_ms": st.floats() | st.integers(), "extra": JSON},
)
PAYLOAD = (
    st.binary(max_size=6000)
    | JSON.map(lambda v: json.dumps(v).encode())
    | NEAR_MISS_EVENT.map(lambda v: json.dumps(v, allow_nan=True).encode())
)
KEY = st.none() | st.binary(max_size=80) | st.sampled_from([b"ppdb001", b"ppweb001"])


def metric_verdict(key: bytes | None, value: bytes) -> str | None:
    """The decoder's reason to reject, or None if it accepts (then windowing decides)."""
    try:
        decode_metric_event(key, value)
    except InputRejectedError as exc:
        return str(exc)
    return None


def control_rejected(value: bytes) -> bool:
    """What the producer dead-letters: neither its own command nor the worker's reload."""
    try:
        ControlEvent.model_validate_json(value)
    except ValidationError:
        return not is_command(value, ReloadModel)
    return False


@settings(max_examples=400, deadline=None)
@given(key=KEY, value=PAYLOAD)
def test_the_metric_decoder_accepts_or_gives_a_reason_never_crashes(key, value):
    reason = metric_verdict(key, value)
    assert reason is None or reason.strip()


@settings(max_examples=300, deadline=None)
@given(value=PAYLOAD)
def test_every_payload_decoder_raises_only_validation_errors(value):
    for model in (ControlEvent, ContextWindow, MetricEvent):
        try:
            decoded = model.model_validate_json(value)
        except ValidationError as exc:  # anything else would escape and fail the test
            assert exc.errors(), "a rejection always says what is wrong"
        else:
            assert isinstance(decoded, model)


@pytest.fixture
def running(make_settings, tmp_path) -> Any:
    """The producer (reads control) and the Faust worker (reads metrics), running."""
    from producers.service import run

    config = make_settings(servers=2, speed=60, backfill_hours=0.1, control_burst=10_000)
    producer_service = ServiceThread(lambda stop: run(config, stop))
    worker = ServiceProcess(config, "process", log_path=str(tmp_path / "process.log"))
    # The producer reads control from the end as it was when it started (commands sent
    # before are not replayed); its backfill on the metrics topic says it has started.
    backfill = TopicReader(config, config.topic_metrics)
    try:
        backfill.wait_for(lambda ms: len(ms) > 0, timeout_s=60)
    finally:
        backfill.close()
    yield config
    worker.stop()
    assert worker.process.returncode == 0, "the Faust worker survived and stopped cleanly"
    producer_service.shut_down()  # fails the test if the producer died


class Expected:
    """Dead letters expected so far, as a multiset of original bytes (examples share topics)."""

    def __init__(self) -> None:
        self.payloads: Counter[bytes] = Counter()
        self.round = 0

    def met_by(self, letters: list[DeadLetter]) -> bool:
        return not (self.payloads - Counter(letter.payload() for letter in letters))


@pytest.mark.broker
@pytest.mark.slow
def test_hostile_input_is_dead_lettered_and_good_events_keep_flowing(running, read_topic):
    config = running
    dead = read_topic(config, config.topic_deadletter)
    windows = read_topic(config, config.topic_windows)
    producer = make_producer(config)
    expected = Expected()
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)

    # No shrinking: each example waits on the broker, so a failure is reported as found.
    @settings(max_examples=8, deadline=None, database=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(metrics=st.lists(st.tuples(KEY, PAYLOAD), min_size=1, max_size=25),
           control=st.lists(PAYLOAD, max_size=8))
    @example(metrics=[(None, b"{}")], control=[b"{}", b""])  # '{}' once passed for a reload
    def round_trip(metrics: list[tuple[bytes | None, bytes]], control: list[bytes]) -> None:
        expected.round += 1
        good_server = f"ppfuzz{expected.round:03d}"
        for key, value in metrics:
            producer.produce(config.topic_metrics, key=key, value=value)
            if metric_verdict(key, value) is not None:
                expected.payloads[value] += 1
        for value in control:
            producer.produce(config.topic_control, value=value)
            if control_rejected(value):
                expected.payloads[value] += 1
        # Good events right after the garbage: 7 minutes close the first 5-minute step.
        for minute in range(7):
            event = MetricEvent(server_id=good_server, timestamp=start + timedelta(minutes=minute),
                                cpu_pct=20.0, mem_pct=30.0)
            producer.produce(config.topic_metrics, key=good_server.encode(),
                             value=event.to_bytes())
        assert producer.flush(30) == 0
        dead.wait_for(lambda ms: expected.met_by(
            [DeadLetter.model_validate_json(m.value()) for m in ms]), timeout_s=30)
        windows.wait_for(lambda ms: any(
            ContextWindow.model_validate_json(m.value()).server_id == good_server for m in ms),
            timeout_s=30)

    round_trip()
    letters = [DeadLetter.model_validate_json(m.value()) for m in dead.messages]
    assert letters, "hostile input produced dead letters"
    assert all(letter.reason and letter.stage in {"process", "produce"} for letter in letters)
    assert {letter.source_topic for letter in letters} <= {config.topic_metrics,
                                                          config.topic_control}
