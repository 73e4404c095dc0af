from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Message

from core.control import publish_scenario
from core.kafka import make_producer
from core.settings import Settings
from producers.fleet import default_fleet
from producers.service import run
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from schemas.topics import TOPICS
from tests.conftest import SettingsFactory
from tests.helpers import ServiceThread, TopicReader

#: The simulated "now" the service starts at: the backfill covers 09:01-10:00.
START = datetime(2024, 6, 3, 10, 0, 30, tzinfo=UTC)
LAST_BACKFILLED = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WAIT_S = 20.0


class Running(ServiceThread):
    """The producer service in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(lambda stop: run(settings, stop, start=START))


@pytest.fixture
def start_service() -> Iterator[Callable[[Settings], Running]]:
    running: list[Running] = []

    def start(settings: Settings) -> Running:
        service = Running(settings)
        running.append(service)
        return service

    yield start
    for service in running:
        service.shut_down()


def by_server(messages: list[Message]) -> dict[str, list[MetricEvent]]:
    events: dict[str, list[MetricEvent]] = defaultdict(list)
    for message in messages:
        event = MetricEvent.model_validate_json(message.value() or b"")
        assert message.key() == event.server_id.encode()
        events[event.server_id].append(event)
    return events


def live_for_all(servers: list[str], after: datetime) -> Callable[[list[Message]], bool]:
    """Every server has an event later than ``after``."""

    def predicate(messages: list[Message]) -> bool:
        events = by_server(messages)
        return all(any(e.timestamp > after for e in events.get(s, [])) for s in servers)

    return predicate


@pytest.mark.broker
def test_backfills_the_last_hour_then_goes_live(
    make_settings: SettingsFactory,
    start_service: Callable[[Settings], Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    service = start_service(make_settings(servers=3, speed=600, backfill_hours=1))
    fleet = default_fleet(3)
    metrics = read_topic(service.settings, service.settings.topic_metrics)
    metrics.wait_for(live_for_all(fleet, LAST_BACKFILLED + 3 * MINUTE), WAIT_S)

    events = by_server(metrics.messages)
    assert sorted(events) == sorted(fleet)
    for server in fleet:
        stamps = [e.timestamp for e in events[server]]
        backfill = [t for t in stamps if t <= LAST_BACKFILLED]
        assert backfill == [LAST_BACKFILLED - (59 - k) * MINUTE for k in range(60)]
        # One event per simulated minute, in order, straight on into live.
        assert all(b - a == MINUTE for a, b in itertools.pairwise(stamps))


@pytest.mark.broker
def test_control_command_turns_one_server_critical(
    make_settings: SettingsFactory,
    start_service: Callable[[Settings], Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(servers=3, speed=600, backfill_hours=0.5)
    producer = make_producer(settings)
    # Sent before the producer started: an old command, not replayed.
    publish_scenario(settings, producer, "critical", ["ppml0001"])
    start_service(settings)
    metrics = read_topic(settings, settings.topic_metrics)
    metrics.wait_for(live_for_all(default_fleet(3), LAST_BACKFILLED), WAIT_S)

    publish_scenario(settings, producer, "critical", ["ppdb001", "ppweb001"])

    def critical(event: MetricEvent) -> bool:
        assert event.cpu_pct is not None and event.mem_pct is not None
        assert event.error_rate is not None
        return event.cpu_pct >= 97 and event.mem_pct >= 97 and event.error_rate >= 0.1

    def db_and_web_critical(messages: list[Message]) -> bool:
        events = by_server(messages)
        return all(any(critical(e) for e in events.get(s, [])) for s in ("ppdb001", "ppweb001"))

    metrics.wait_for(db_and_web_critical, WAIT_S)
    events = by_server(metrics.messages)
    assert not any(critical(e) for e in events["ppdb001"] if e.timestamp <= LAST_BACKFILLED)
    first_critical = next(e for e in events["ppdb001"] if critical(e))
    latency_before = max(e.latency_ms or 0 for e in events["ppdb001"][:30])
    assert (first_critical.latency_ms or 0) > 3 * latency_before
    assert all((e.cpu_pct or 0) < 85 and (e.error_rate or 0) < 0.02 for e in events["ppml0001"])


@pytest.mark.broker
def test_invalid_commands_are_dead_lettered_and_production_goes_on(
    make_settings: SettingsFactory,
    start_service: Callable[[Settings], Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(servers=2, speed=600, backfill_hours=0.2)
    service = start_service(settings)
    metrics = read_topic(settings, settings.topic_metrics)
    letters_reader = read_topic(settings, settings.topic_deadletter)  # joins meanwhile
    metrics.wait_for(live_for_all(default_fleet(2), LAST_BACKFILLED), WAIT_S)

    garbage = [b"\xff\x00 not json " + uuid.uuid4().bytes, b'{"scenario": "explode"}']
    producer = make_producer(settings)
    for raw in garbage:
        producer.produce(settings.topic_control, value=raw)
    producer.flush(10)

    messages = letters_reader.wait_for(lambda m: len(m) >= len(garbage), WAIT_S)
    letters = [DeadLetter.model_validate_json(m.value() or b"") for m in messages]
    assert [letter.payload() for letter in letters] == garbage
    for letter in letters:
        assert letter.stage == "produce"
        assert letter.source_topic == settings.topic_control
        assert letter.reason.startswith("invalid control event")
    assert "scenario" in letters[1].reason

    metrics.poll(0.5)
    latest = max(e.timestamp for e in by_server(metrics.messages)["ppml0001"])
    metrics.wait_for(live_for_all(default_fleet(2), latest + 5 * MINUTE), WAIT_S)
    assert service.thread.is_alive()


@pytest.mark.broker
def test_python_m_producers_runs_and_stops_on_sigterm(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = make_settings()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "FLEETCAST_SERVERS": "2",
        "FLEETCAST_BACKFILL_HOURS": "0.1",
        **{f"FLEETCAST_TOPIC_{spec.role.upper()}": settings.topic(spec.role) for spec in TOPICS},
    }
    log_file = tmp_path / "producer.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "producers"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + WAIT_S
            while "backfill done: 12 events" not in log_file.read_text():
                assert process.poll() is None, log_file.read_text()
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0, log_file.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log_file.read_text()
    assert "producing 2 servers" in output
    assert "SIGTERM received, stopping" in output
    assert "stopped: " in output


@pytest.mark.broker
def test_commands_for_unknown_servers_and_floods_are_dead_lettered(
    make_settings: SettingsFactory,
    start_service: Callable[[Settings], Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(servers=2, speed=600, backfill_hours=0.2, control_burst=3,
                             control_rate_per_s=0.001)
    service = start_service(settings)
    metrics = read_topic(settings, settings.topic_metrics)
    letters_reader = read_topic(settings, settings.topic_deadletter)
    metrics.wait_for(live_for_all(default_fleet(2), LAST_BACKFILLED), WAIT_S)

    producer = make_producer(settings)
    publish_scenario(settings, producer, "critical", ["ppdb999"])  # not in the fleet
    for _ in range(6):  # a flood: two pass the burst of 3 (the refused one took a token)
        publish_scenario(settings, producer, "heavy_load", ["ppdb001"])

    messages = letters_reader.wait_for(lambda m: len(m) >= 5, WAIT_S)
    reasons = [DeadLetter.model_validate_json(m.value() or b"").reason for m in messages]
    assert reasons[0].startswith("control event refused: unknown server(s) 'ppdb999'")
    assert all(r.startswith("rate limited") for r in reasons[1:])
    letters_reader.poll(1.0)
    assert len(letters_reader.messages) == 5
    assert service.thread.is_alive()
