"""Operator commands for the simulator, read from the control topic.

Each producer process reads every command from the end of the topic as it was
at start-up (``core.control.open_control_consumer``).
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import Consumer, Message, Producer
from pydantic import ValidationError

from core.kafka import dead_letter_message, drain
from core.settings import Settings
from producers.backpressure import produce_patiently
from producers.rate_limit import TokenBucket
from producers.simulator import FleetSimulator
from schemas.common import describe_validation_error
from schemas.control_event import ControlEvent, ReloadModel, is_command

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
            self._reject(message, (
                f"rate limited: more than {self._limit.burst} control commands at once or "
                f"{self._limit.rate_per_s:g} per second"))
            return
        try:
            changed = self._simulator.apply(event)
        except ValueError as exc:  # names a server outside the fleet
            self._reject(message, f"control event refused: {exc}")
            return
        except Exception as exc:  # a bad command must never stop the fleet
            log.exception("could not apply %s", event)
            self._reject(message, f"could not apply control event: {exc!r}")
            return
        self.applied += 1
        target = ",".join(event.servers[:10]) if event.servers else "fleet-wide"
        log.info("control: %s on %s; %d server(s) changed: %s", event.scenario, target,
                 len(changed), dict(list(changed.items())[:10]))

    def _reject(self, message: Message, reason: str) -> None:
        self.rejected += 1
        produce_patiently(self._producer, self._stop, lambda: dead_letter_message(
            self._settings, self._producer, message, stage=STAGE, reason=reason))
