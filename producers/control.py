"""Operator commands for the simulator, read from the control topic.

Each producer process reads every command from the end of the topic as it was
at start-up (``core.control.open_control_consumer``). What it does with each
``set_scenario`` goes on the scenarios topic (``schemas.scenario_state``): the
state every changed server entered, or one refusal with the reason (also a
dead letter), so that the API and the dashboard show what happened, not what
was asked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from functools import partial

from confluent_kafka import Consumer, KafkaError, Message, Producer
from pydantic import ValidationError

from core import telemetry
from core.kafka import dead_letter_message, drain
from core.settings import Settings
from producers.backpressure import produce_patiently
from producers.rate_limit import TokenBucket
from producers.simulator import FleetSimulator
from schemas.common import describe_validation_error
from schemas.control_event import ControlEvent, ReloadModel, is_command
from schemas.scenario_state import ScenarioState

log = logging.getLogger(__name__)

STAGE = "produce"


class ControlHandler:
    """Applies valid commands to the simulator; sends invalid ones to the dead-letter topic."""

    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        producer: Producer,
        simulator: FleetSimulator,
        stop: threading.Event,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._simulator = simulator
        self._stop = stop
        self.applied = 0
        self.rejected = 0
        self._limit = TokenBucket(settings.control_rate_per_s, settings.control_burst)
        topic = settings.topic_scenarios
        self._published = telemetry.EVENTS_PRODUCED.labels(STAGE, topic)
        self._not_delivered = telemetry.DELIVERY_FAILURES.labels(STAGE, topic)

    def announce(self) -> None:
        """Publish every server's state as the simulator starts: what the scenarios topic holds
        from before a restart need not be true of this simulator."""
        simulator = self._simulator
        self._publish(ScenarioState(
            outcome="applied", server_id=sid, scenario=None, state=simulator.state_of(sid),
            at=simulator.since(sid)) for sid in simulator.server_ids)

    def poll(self, timeout_s: float) -> None:
        """Handle the commands that arrive within ``timeout_s``."""
        for message in drain(self._consumer, timeout_s, max_messages=100):
            self.handle(message)

    def handle(self, message: Message) -> None:
        raw = message.value() or b""
        try:
            event = ControlEvent.model_validate_json(raw)
        except ValidationError as exc:
            if is_command(raw, ReloadModel):
                return  # the inference workers' command, valid but not the producer's
            self._reject(message, f"invalid control event: {describe_validation_error(exc)}")
            return
        if not self._limit.take():
            self._refuse(message, event, (
                f"rate limited: more than {self._limit.burst} control commands at once or "
                f"{self._limit.rate_per_s:g} per second"))
            return
        at = self._simulator.next_time  # the first simulated minute the command changes
        try:
            changed = self._simulator.apply(event)
        except ValueError as exc:  # names a server outside the fleet
            self._refuse(message, event, f"control event refused: {exc}")
            return
        except Exception as exc:  # a bad command must never stop the fleet
            log.exception("could not apply %s", event)
            self._refuse(message, event, f"could not apply control event: {exc!r}")
            return
        self.applied += 1
        self._publish(ScenarioState(
            outcome="applied", server_id=sid, scenario=event.scenario, state=state,
            servers_named=len(event.servers), at=at) for sid, state in changed.items())
        target = ",".join(event.servers[:10]) if event.servers else "fleet-wide"
        log.info("control: %s on %s; %d server(s) changed: %s", event.scenario, target,
                 len(changed), dict(list(changed.items())[:10]))

    def _refuse(self, message: Message, event: ControlEvent, reason: str) -> None:
        """A valid command the simulator did not apply: a dead letter and a refusal."""
        self._reject(message, reason)
        self._publish([ScenarioState(
            outcome="refused", server_id=None, scenario=event.scenario, state=None,
            reason=reason, servers_named=len(event.servers), at=self._simulator.next_time)])

    def _publish(self, states: Iterable[ScenarioState]) -> None:
        topic = self._settings.topic_scenarios
        for state in states:
            produce = partial(self._producer.produce, topic, key=state.key(),
                              value=state.to_bytes(), on_delivery=self._delivered)
            if not produce_patiently(self._producer, self._stop, produce):
                return  # stopping with the queue full: the next start announces every server
            self._published.inc()

    def _delivered(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self._not_delivered.inc()
            log.error("scenario state not delivered to %s: %s",
                      self._settings.topic_scenarios, error)

    def _reject(self, message: Message, reason: str) -> None:
        self.rejected += 1
        produce_patiently(self._producer, self._stop, lambda: dead_letter_message(
            self._settings, self._producer, message, stage=STAGE, reason=reason))
