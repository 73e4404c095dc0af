"""Publishing operator commands to ``fleetcast.control`` (used by the CLI, the UI and the API)."""

from __future__ import annotations

from collections.abc import Sequence

from confluent_kafka import Producer

from fleetcast.settings import Settings
from schemas.control_event import ControlEvent


def publish_scenario(
    settings: Settings, producer: Producer, scenario: str, servers: Sequence[str] = ()
) -> ControlEvent:
    """Validate and publish a ``set_scenario`` command; raises ``ValueError`` if invalid."""
    event = ControlEvent.model_validate({"scenario": scenario, "servers": list(servers)})
    producer.produce(settings.topic_control, value=event.to_bytes())
    producer.flush(10)
    return event
