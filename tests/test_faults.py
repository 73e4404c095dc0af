"""Faults across services: a killed inference worker, a broker gone for a while, a broker restart.

(The Faust worker's kill -9 recovery from its changelog is in
tests/stream_processors/test_worker.py; its accounting under bad input in
tests/stream_processors/test_accounting.py.)
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from core.broker import EmbeddedBroker, free_port
from core.kafka import ensure_topics, make_producer
from fleetcast.stack import child_env
from producers.service import run as run_producer
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


def _broker_pid(stack: subprocess.Popen[bytes]) -> int:
    for child in psutil.Process(stack.pid).children(recursive=True):
        if "tansu" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("no embedded broker under fleetcast up")


def test_fleetcast_up_restarts_its_embedded_broker_and_rebuilds_context(
    make_settings, tmp_path
):
    port = free_port()
    settings = make_settings(api_port=free_port(), speed=600, backfill_hours=2, servers=5)
    settings = settings.model_copy(update={"broker_port": port,
                                           "kafka_bootstrap_servers": f"127.0.0.1:{port}"})
    env = child_env(settings)
    env.pop("KAFKA_BOOTSTRAP_SERVERS")  # no bootstrap given: fleetcast up runs its own broker
    env["FLEETCAST_METRICS_PORT_PRODUCE"] = env["FLEETCAST_METRICS_PORT_PROCESS"] = "0"
    env["FLEETCAST_METRICS_PORT_INFER"] = "0"
    with open(tmp_path / "up.log", "wb") as log:
        stack = subprocess.Popen([sys.executable, "-m", "fleetcast.cli", "up", "--no-ui",
                                  "--no-host"], env=env, stdout=log, stderr=log)
    try:
        def forecasts_flow() -> None:
            reader = TopicReader(settings, settings.topic_forecasts)
            try:
                reader.wait_for(lambda ms: len(ms) > 0, timeout_s=120)
            finally:
                reader.close()

        forecasts_flow()
        os.kill(_broker_pid(stack), 9)
        time.sleep(2)
        forecasts_flow()  # on the restarted, empty broker: topics and context rebuilt
        assert stack.poll() is None, "fleetcast up is still running"
        text = (tmp_path / "up.log").read_text()
        assert "it restarts empty" in text and "services restarted" in text
    finally:
        stack.terminate()
        stack.wait(60)
    assert stack.returncode == 0

