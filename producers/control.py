"""Operator commands for the simulator, read from the control topic.

Each producer process reads every command (its own consumer group) from the end
of the topic as it was at start-up: commands sent before a restart are not
replayed, and one sent right after start-up is not missed.
"""

from __future__ import annotations

import logging
import threading
import uuid

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from pydantic import ValidationError

from fleetcast.kafka import dead_letter_message, drain, make_consumer
from fleetcast.settings import Settings
from producers.backpressure import produce_patiently
from producers.rate_limit import TokenBucket
from producers.simulator import FleetSimulator
from schemas.common import describe_validation_error
from schemas.control_event import ControlEvent, ReloadModel, is_command

log = logging.getLogger(__name__)

STAGE = "produce"
_METADATA_TIMEOUT_S = 10.0


def open_control_consumer(settings: Settings) -> Consumer:
    """A consumer of the control topic positioned at its current end.

    The partitions are assigned at their high watermarks rather than subscribed
    with ``auto.offset.reset=latest``: a group join takes seconds (and "latest" is
    only resolved once it is done), so a command sent in that gap would be lost.
    Nothing is committed; the group id is unique to this process.
    """
    consumer = make_consumer(
        settings, f"fleetcast-produce-{uuid.uuid4().hex}", **{"auto.offset.reset": "latest"}
    )
    topic = settings.topic_control
    try:
        metadata = consumer.list_topics(topic, timeout=_METADATA_TIMEOUT_S)
        assignment = []
        for partition in sorted(metadata.topics[topic].partitions):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=_METADATA_TIMEOUT_S, cached=False
            )
            assignment.append(TopicPartition(topic, partition, high))
        consumer.assign(assignment)
    except BaseException:
        consumer.close()
        raise
    log.info("reading commands from %s at %s", topic,
             {tp.partition: tp.offset for tp in assignment})
    return consumer


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
