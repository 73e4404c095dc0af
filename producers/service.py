"""The producer service: the simulated fleet's metrics on Kafka, backfilled, then live.

On a first start the simulated clock is set to the wall clock. The last
``backfill_hours`` are produced at once, so downstream services have history
to work with straight away; after that simulated time runs ``speed`` times
faster than real time and each simulated minute's events go out when that
minute comes. After a crash or a restart the producer reads back what it
already published and continues its simulated clock from there
(``producers.resume``): no minute lost, none sent twice, no backfill over what
is there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Final

from confluent_kafka import KafkaError, Message, Producer

from core import telemetry
from core.control import open_control_consumer
from core.kafka import ensure_topics, make_producer
from core.runtime import configure_logging, stop_on_signals
from core.settings import Settings
from producers.backpressure import produce_patiently
from producers.control import ControlHandler
from producers.fleet import default_fleet
from producers.resume import (
    StartPlan,
    plan_start,
    read_published,
    read_scenarios,
    trusted_newest,
)
from producers.simulator import FleetSimulator
from schemas.metric_event import MetricEvent
from schemas.scenario_state import ScenarioState

log = logging.getLogger(__name__)

STAGE: Final = "produce"
#: Longest real wait between checks for commands and for ``stop``.
_MAX_WAIT_S: Final = 0.2
#: Serve delivery reports at least this often (in produced messages).
_POLL_EVERY: Final = 1_000
_REPORT_EVERY_S: Final = 60.0
_FLUSH_TIMEOUT_S: Final = 10.0


class MetricPublisher:
    """Puts metric events on the metrics topic keyed by server id, counting what happens."""

    def __init__(
        self, settings: Settings, producer: Producer, stop: threading.Event, *,
        stage: str = STAGE,
    ) -> None:
        self._topic = settings.topic_metrics
        self._producer = producer
        self._stop = stop
        self.produced = 0
        self.failed = 0
        self._produced_metric = telemetry.EVENTS_PRODUCED.labels(stage, self._topic)
        self._failed_metric = telemetry.DELIVERY_FAILURES.labels(stage, self._topic)

    def send(self, events: list[MetricEvent]) -> None:
        for event in events:
            key, value = event.server_id.encode(), event.to_bytes()
            produce = partial(self._producer.produce, self._topic, key=key, value=value,
                              on_delivery=self._delivered)
            if not produce_patiently(self._producer, self._stop, produce):
                return  # stopping while the queue is full: the rest is dropped
            self.produced += 1
            self._produced_metric.inc()
            if self.produced % _POLL_EVERY == 0:
                self._producer.poll(0)

    def poll(self) -> None:
        """Serve delivery reports without waiting."""
        self._producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("metric event delivered %s", telemetry.fields(
                    topic=message.topic(), partition=message.partition(),
                    offset=message.offset(), server_id=(message.key() or b"").decode()))
            return
        self.failed += 1
        self._failed_metric.inc()
        # One line per thousand failures: a long outage must not flood the log.
        if self.failed % 1_000 == 1:
            log.error("metric events not delivered (%d so far): %s", self.failed, error)


def _backfill(
    simulator: FleetSimulator, publisher: MetricPublisher, plan: StartPlan, stop: threading.Event
) -> None:
    for events in simulator.step(plan.backfill_minutes):
        if stop.is_set():
            return
        publisher.send(plan.unpublished(events))


def _live(
    simulator: FleetSimulator,
    publisher: MetricPublisher,
    control: ControlHandler,
    plan: StartPlan,
    *,
    clock: Callable[[], datetime],
    speed: float,
    stop: threading.Event,
) -> None:
    """Emit each simulated minute when the simulated clock reaches it; handle commands between."""
    next_report = time.monotonic() + _REPORT_EVERY_S
    while not stop.is_set():
        now = clock()
        due = simulator.next_time
        if due <= now:
            # Behind (a slow broker, a huge fleet): catch up minute by minute,
            # still reading commands between minutes.
            publisher.send(plan.unpublished(simulator.events_at(due)))
            control.poll(0)
            continue
        control.poll(min((due - now).total_seconds() / speed, _MAX_WAIT_S))
        publisher.poll()
        if time.monotonic() >= next_report:
            next_report += _REPORT_EVERY_S
            log.info("produced %d events, simulated time %s, %d server(s) in a scenario",
                     publisher.produced, simulator.now, len(simulator.active_overrides()))


def _restore_scenarios(simulator: FleetSimulator, states: Mapping[str, ScenarioState]) -> None:
    """Put back the scenarios that were in force when the producer stopped."""
    restored: dict[str, str] = {}
    for sid, record in states.items():
        if not record.in_force or record.state is None:
            continue
        try:
            simulator.restore(sid, record.state, record.at)
        except ValueError as exc:  # not a state this simulator makes: a forged record
            log.warning("scenario state of %s not restored: %s", sid, exc)
            continue
        restored[sid] = record.state
    if restored:
        log.info("restored %d server(s) in a scenario: %s", len(restored),
                 dict(list(restored.items())[:10]))


def run(
    settings: Settings, stop: threading.Event | None = None, *, start: datetime | None = None
) -> None:
    """Run the producer until ``stop`` is set (or SIGINT/SIGTERM, from the main thread).

    ``start`` is the wall-clock time at start-up (the real one when None);
    tests pin it to get exact backfill boundaries.
    """
    stop = stop_on_signals(stop)
    ensure_topics(settings)
    server_ids = default_fleet(settings.servers)
    now = (start or datetime.now(UTC)).astimezone(UTC)
    published = trusted_newest(read_published(settings, server_ids), now,
                               timedelta(seconds=settings.max_future_skew_s))
    plan = plan_start(now, round(settings.backfill_hours * 60), published)
    started = time.monotonic()

    def clock() -> datetime:
        return plan.clock_start + timedelta(seconds=(time.monotonic() - started) * settings.speed)

    simulator = FleetSimulator(server_ids, seed=settings.seed, start=plan.first)
    if plan.resumed:
        _restore_scenarios(simulator, read_scenarios(settings, server_ids))
        log.info("resuming after what %s holds: newest minute %s (%d of %d servers seen); "
                 "simulated clock continues at %s; %d minute(s) produced at once, only for "
                 "servers that miss them", settings.topic_metrics, plan.newest,
                 len(plan.published), len(server_ids), plan.clock_start,
                 plan.backfill_minutes)
    log.info("producing %d servers to %s: speed %gx, backfill %d min from %s, seed %d",
             len(server_ids), settings.topic_metrics, settings.speed, plan.backfill_minutes,
             plan.first, settings.seed)

    metrics = telemetry.serve_metrics(settings, "produce")
    producer = make_producer(settings)
    # Positioned before the backfill, so commands sent during it are applied after.
    consumer = open_control_consumer(settings)
    publisher = MetricPublisher(settings, producer, stop)
    control = ControlHandler(settings, consumer, producer, simulator, stop)
    try:
        control.announce()
        _backfill(simulator, publisher, plan, stop)
        log.info("backfill done: %d events up to %s", publisher.produced, simulator.now)
        _live(simulator, publisher, control, plan, clock=clock, speed=settings.speed, stop=stop)
    finally:
        consumer.close()
        unsent = producer.flush(_FLUSH_TIMEOUT_S)
        telemetry.close_metrics(metrics)
        log.info("stopped: %d events produced, %d not delivered, %d left unsent; "
                 "%d commands applied, %d rejected", publisher.produced, publisher.failed,
                 unsent, control.applied, control.rejected)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    run(settings)
