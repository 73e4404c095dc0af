"""Faults across services: a killed inference worker, a broker gone for a while, a broker
restart, a killed producer under ``fleetcast up``.

(The Faust worker's kill -9 recovery from its changelog is in
tests/stream_processors/test_worker.py; its accounting under bad input in
tests/stream_processors/test_accounting.py.)
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from core.broker import EmbeddedBroker, free_port
from core.kafka import ensure_topics, make_producer
from core.settings import Settings
from fleetcast.stack import child_env
from producers.fleet import default_fleet
from producers.service import run as run_producer
from schemas.context_window import ContextWindow
from schemas.dead_letter import DeadLetter
from schemas.forecast import Forecast
from schemas.metric_event import MetricEvent
from tests.helpers import ServiceProcess, ServiceThread, TopicReader
from tests.inference_worker.factories import make_window

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_killed_inference_worker_loses_no_window_and_duplicates_replace(
    make_settings, read_topic, tmp_path
):
    settings = make_settings(batch_size=16, batch_deadline_ms=50)
    end = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    # One window per server: nothing coalesces, so every window must get its forecast.
    windows = [make_window(f"ppsrv{i:04d}", end=end, noise=1.0, seed=i) for i in range(240)]
    forecasts = read_topic(settings, settings.topic_forecasts)
    log = str(tmp_path / "infer.log")
    first = ServiceProcess(settings, "infer", log_path=log)
    producer = make_producer(settings)

    def publish(chunk: list) -> None:
        for window in chunk:
            producer.produce(settings.topic_windows, key=window.server_id.encode(),
                             value=window.to_bytes())
        producer.flush(30)

    publish(windows[:120])
    forecasts.wait_for(lambda ms: len(ms) >= 20, timeout_s=60)
    first.kill()  # SIGKILL mid-stream: no final commit
    publish(windows[120:])
    second = ServiceProcess(settings, "infer", log_path=log)
    try:
        wanted = {f"{w.server_id}@{(w.end).isoformat()}" for w in windows}

        def ids(messages) -> Counter[str]:
            return Counter(Forecast.model_validate_json(m.value()).forecast_id for m in messages)

        def all_scored(messages) -> bool:
            return {Forecast.model_validate_json(m.value()).server_id for m in messages} >= {
                w.server_id for w in windows}

        forecasts.wait_for(all_scored, timeout_s=120)
        seen = ids(forecasts.messages)
        assert len(seen) == len(windows), "every window scored, none lost"
        assert {i.split("@")[0] for i in seen} == {w.server_id for w in windows}
        assert {Forecast.model_validate_json(m.value()).start for m in forecasts.messages} == {
            end}, "a re-scored window keeps its forecast_id, so it replaces its first forecast"
        assert len(seen) == len(wanted)
    finally:
        second.stop()


def test_the_producer_buffers_through_a_broker_outage(make_settings, tmp_path):
    port = free_port()
    broker = EmbeddedBroker(port=port).start()
    settings = make_settings(kafka_bootstrap_servers=broker.bootstrap, servers=2, speed=60,
                             backfill_hours=0.05)
    ensure_topics(settings)
    started, t0 = datetime.now(UTC), time.monotonic()
    producer = ServiceThread(lambda stop: run_producer(settings, stop))

    def simulated_now() -> datetime:  # the producer's clock: 60 simulated s per real s
        return started + timedelta(seconds=(time.monotonic() - t0) * settings.speed)

    try:
        time.sleep(4)
        broker.stop()  # gone: memory and all
        time.sleep(6)  # the producer keeps simulating minutes meanwhile
        broker = EmbeddedBroker(port=port).start()
        back_at = simulated_now()
        ensure_topics(settings)  # what a durable Kafka would still have
        reader = TopicReader(settings, settings.topic_metrics)
        try:
            received = reader.wait_for(
                lambda ms: any(MetricEvent.model_validate_json(m.value()).timestamp
                               > back_at + timedelta(minutes=5) for m in ms),
                timeout_s=90,
            )
            events = [MetricEvent.model_validate_json(m.value()) for m in received]
            minutes = sorted({e.timestamp for e in events if e.server_id == "ppdb001"})
            # The topic started empty: whatever is older than the restart was buffered.
            assert minutes[0] <= back_at - timedelta(minutes=4), "outage minutes were buffered"
            gaps = [b - a for a, b in itertools.pairwise(minutes)]
            assert max(gaps) == timedelta(minutes=1), "no minute lost across the outage"
        finally:
            reader.close()
        assert producer.thread.is_alive(), "the producer survived"
    finally:
        producer.shut_down()
        broker.stop()


def _child_pid(stack: subprocess.Popen[bytes], *words: str) -> int:
    """The process under ``fleetcast up`` whose command line has ``words`` in a row."""
    for child in psutil.Process(stack.pid).children(recursive=True):
        if " ".join(words) in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError(f"no {' '.join(words)!r} under fleetcast up")


@contextmanager
def fleetcast_up(make_settings, log_path: Path, **overrides) -> Iterator[
        tuple[subprocess.Popen[bytes], Settings]]:
    """``fleetcast up --no-ui --no-host`` on its own embedded broker, every port moved aside."""
    port = free_port()
    settings = make_settings(api_port=free_port(), **overrides)
    settings = settings.model_copy(update={"broker_port": port,
                                           "kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    env = child_env(settings)
    env.pop("KAFKA_BOOTSTRAP_SERVERS")  # no bootstrap given: fleetcast up runs its own broker
    env["FLEETCAST_METRICS_PORT_PRODUCE"] = env["FLEETCAST_METRICS_PORT_PROCESS"] = "0"
    env["FLEETCAST_METRICS_PORT_INFER"] = "0"
    with log_path.open("wb") as log:
        stack = subprocess.Popen([sys.executable, "-m", "fleetcast.cli", "up", "--no-ui",
                                  "--no-host"], env=env, stdout=log, stderr=log)
    try:
        yield stack, settings
    finally:
        stack.terminate()
        stack.wait(60)


def test_fleetcast_up_restarts_its_embedded_broker_and_rebuilds_context(
    make_settings, tmp_path
):
    with fleetcast_up(make_settings, tmp_path / "up.log", speed=600, backfill_hours=2,
                      servers=5) as (stack, settings):
        def forecasts_flow() -> None:
            reader = TopicReader(settings, settings.topic_forecasts)
            try:
                reader.wait_for(lambda ms: len(ms) > 0, timeout_s=120)
            finally:
                reader.close()

        forecasts_flow()
        os.kill(_child_pid(stack, "tansu"), 9)
        time.sleep(2)
        forecasts_flow()  # on the restarted, empty broker: topics and context rebuilt
        assert stack.poll() is None, "fleetcast up is still running"
        text = (tmp_path / "up.log").read_text()
        assert "it restarts empty" in text and "services restarted" in text
    assert stack.returncode == 0


def test_a_killed_producer_under_fleetcast_up_resumes_without_a_lost_step_or_a_late_event(
    make_settings, tmp_path
):
    """Row 4 of issue 12: the simulator restarted from the wall clock, hours behind the
    stream processor's state at speed > 1, and every event it sent was late."""
    fleet = default_fleet(5)
    step = timedelta(minutes=5)
    with fleetcast_up(make_settings, tmp_path / "up.log", speed=600, backfill_hours=1,
                      servers=5) as (stack, settings):
        windows = TopicReader(settings, settings.topic_windows)
        letters = TopicReader(settings, settings.topic_deadletter)
        try:
            def ends(messages) -> dict[str, list[datetime]]:
                by_server: dict[str, set[datetime]] = {sid: set() for sid in fleet}
                for m in messages:
                    window = ContextWindow.model_validate_json(m.value())
                    by_server[window.server_id].add(window.end)
                return {sid: sorted(e) for sid, e in by_server.items()}

            def every_server_past(t: datetime) -> Callable[[list], bool]:
                return lambda ms: all(e and e[-1] > t for e in ends(ms).values())

            # Live, well past the backfill (which ends at the wall clock).
            windows.wait_for(every_server_past(datetime.now(UTC) + 6 * step), timeout_s=120)
            os.kill(_child_pid(stack, "fleetcast.cli produce"), signal.SIGKILL)
            windows.poll(0.5)
            at_kill = max(e[-1] for e in ends(windows.messages).values())
            windows.wait_for(every_server_past(at_kill + 6 * step), timeout_s=60)
            # A canary the stream processor dead-letters: once it is there, so is
            # anything it rejected before it.
            producer = make_producer(settings)
            producer.produce(settings.topic_metrics, key=None, value=MetricEvent(
                server_id=fleet[0], timestamp=at_kill, cpu_pct=1.0).to_bytes())
            producer.flush(10)
            letters.wait_for(lambda ms: any(b"no key" in m.value() for m in ms), timeout_s=30)
            letters.poll(1.0)
        finally:
            windows.close()
            letters.close()
        assert stack.poll() is None, "fleetcast up is still running"
        text = (tmp_path / "up.log").read_text()

    reasons = [DeadLetter.model_validate_json(m.value()).reason for m in letters.messages]
    assert [r for r in reasons if "no key" not in r] == [], "no late (or any other) dead letter"
    for server, server_ends in ends(windows.messages).items():
        gaps = {b - a for a, b in itertools.pairwise(server_ends)}
        assert gaps == {step}, f"{server}: each step once, none lost across the kill"
    # Not one minute lost either: every closed step after the first (a partial one at
    # the backfill's start) holds one event per simulated minute.
    newest = {}
    for m in windows.messages:
        window = ContextWindow.model_validate_json(m.value())
        if window.end >= newest.get(window.server_id, window).end:
            newest[window.server_id] = window
    for server, window in newest.items():
        counts = window.counts[next(i for i, c in enumerate(window.counts) if c) + 1:]
        assert set(counts) == {5}, f"{server}: {counts}"
    assert "produce exited with code -9; restarting in 1 s" in text
    assert "resuming after what" in text
