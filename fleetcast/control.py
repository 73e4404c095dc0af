"""Publishing operator commands to ``fleetcast.control`` (used by the CLI, the UI and the API)."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Producer

from fleetcast.settings import Settings
from schemas.control_event import ControlEvent


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
