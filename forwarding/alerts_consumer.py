"""``fleetcast alerts``: the reference external consumer of ``fleetcast.alerts``.

It reads the topic as any outside tool would (its own consumer group, the
JSON contract in schemas/jsonschema/AlertEvent.schema.json) and prints each
alert event as one JSON line.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import TextIO

from pydantic import ValidationError

from core.kafka import make_consumer
from core.settings import Settings
from schemas.alert import AlertEvent


def print_alerts(
    settings: Settings,
    *,
    follow: bool,
    out: TextIO = sys.stdout,
    idle_exit_s: float = 3.0,
    group_id: str | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Print alert events from the start of the topic; returns how many were printed.

    Without ``follow`` it stops once no new alert has arrived for ``idle_exit_s``.
    """
    consumer = make_consumer(settings, group_id or f"fleetcast-alerts-{uuid.uuid4().hex[:8]}")
    assigned = threading.Event()
    # The idle clock starts once the group has handed us partitions: joining
    # takes a few seconds and is not idleness.
    consumer.subscribe([settings.topic_alerts], on_assign=lambda *_: assigned.set())
    printed = 0
    last_seen = time.monotonic()
    try:
        while not (stop and stop.is_set()):
            messages = consumer.consume(num_messages=500, timeout=0.5)
            for message in messages:
                if message.error():
                    continue
                try:
                    alert = AlertEvent.model_validate_json(message.value() or b"")
                except ValidationError as exc:
                    print(f"skipping undecodable alert at offset {message.offset()}: {exc}",
                          file=sys.stderr)
                    continue
                out.write(alert.model_dump_json() + "\n")
                printed += 1
            out.flush()
            if messages or not assigned.is_set():
                last_seen = time.monotonic()
            elif not follow and time.monotonic() - last_seen > idle_exit_s:
                break
    finally:
        consumer.close()
    return printed
