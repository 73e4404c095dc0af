"""Operator commands on ``fleetcast.control``: publishing them (the CLI, the UI and the API)
and reading them (the simulator's scenarios, the inference worker's model reloads).

Every reader gets every command (its own consumer group) from the end of the
topic as it was at start-up: commands sent before a restart are not replayed,
and one sent right after start-up is not missed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from confluent_kafka import Consumer, Producer, TopicPartition

from core.kafka import make_consumer
from core.settings import Settings
from schemas.control_event import ControlEvent

log = logging.getLogger(__name__)
_METADATA_TIMEOUT_S = 10.0


def publish_scenario(
    settings: Settings, producer: Producer, scenario: str, servers: Sequence[str] = ()
) -> ControlEvent:
    """Validate and publish a ``set_scenario`` command.

    Raises ``pydantic.ValidationError`` if invalid, ``ControlNotDeliveredError`` if Kafka
    did not take it.
    """
    event = ControlEvent.model_validate({"scenario": scenario, "servers": list(servers)})
    producer.produce(settings.topic_control, value=event.to_bytes())
    if producer.flush(10):
        raise ControlNotDeliveredError(
            f"the {scenario} command was not acknowledged by Kafka at "
            f"{settings.kafka_bootstrap_servers} within 10 s"
        )
    return event


class ControlNotDeliveredError(RuntimeError):
    """Kafka did not acknowledge a control command in time."""


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
