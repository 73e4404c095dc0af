"""The open alerts on Kafka: written after each alert event, read back at partition assignment.

``fleetcast.alert-state`` is compacted and keyed by server: its value is the
server's ``OpenAlert``, a tombstone (no value) once the alert resolves. Each
record goes to the partition *number* of the window it was scored from, and
the topic has as many partitions as the windows topic, so the worker that is
handed windows partition p finds the open alerts of exactly its servers in
state partition p, whichever partitioner wrote the windows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from confluent_kafka import Message, Producer
from pydantic import ValidationError

from core.kafka import make_admin, read_partitions
from core.settings import Settings
from schemas.alert import OpenAlert
from schemas.common import describe_validation_error

log = logging.getLogger(__name__)

#: Told the unreadable state record and the reason; dead-letters it.
Reject = Callable[[Message, str], None]


def check_copartitioned(settings: Settings, timeout_s: float = 10.0) -> None:
    """ValueError unless the state topic has the windows topic's partition count."""
    topics = make_admin(settings).list_topics(timeout=timeout_s).topics
    counts = {name: len(topics[name].partitions) if name in topics else 0
              for name in (settings.topic_windows, settings.topic_alert_state)}
    if len(set(counts.values())) != 1:
        raise ValueError(
            f"{settings.topic_alert_state} must have as many partitions as "
            f"{settings.topic_windows} (the open alerts of windows partition p are kept in "
            f"state partition p); found {counts}"
        )


def load_open_alerts(
    settings: Settings, partitions: Iterable[int], reject: Reject
) -> list[OpenAlert]:
    """The open alerts in these state partitions now, oldest first; bad records rejected."""
    latest: dict[bytes, OpenAlert] = {}
    ends: dict[int, int | None] = dict.fromkeys(partitions)
    for message in read_partitions(settings, settings.topic_alert_state, ends):
        key, value = message.key(), message.value()
        if key is None:
            reject(message, "alert state record without a key (the server id)")
            continue
        if value is None:  # resolved since
            latest.pop(key, None)
            continue
        try:
            alert = OpenAlert.model_validate_json(value)
        except ValidationError as exc:
            reject(message, f"invalid open alert: {describe_validation_error(exc)}")
            continue
        if alert.server_id.encode() != key:
            reject(message, f"open alert of {alert.server_id} under key {key!r}")
            continue
        latest.pop(key, None)  # re-inserted: the order is the order of the last writes
        latest[key] = alert
    return list(latest.values())


def write_state(
    settings: Settings, producer: Producer, *, server_id: str, partition: int,
    alert: OpenAlert | None,
) -> None:
    """The server's open alert, or a tombstone for none, into state partition ``partition``."""
    producer.produce(settings.topic_alert_state, key=server_id.encode(),
                     value=None if alert is None else alert.to_bytes(), partition=partition)
