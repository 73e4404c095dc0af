"""Producing through a full local queue: wait for room instead of failing."""

from __future__ import annotations

import threading
from collections.abc import Callable

from confluent_kafka import Producer

#: How long to serve delivery reports each time the queue is full.
_WAIT_S = 0.1


def produce_patiently(
    producer: Producer, stop: threading.Event, produce: Callable[[], object]
) -> bool:
    """Call ``produce`` until librdkafka's queue takes it; False if ``stop`` is set first.

    The queue fills when the broker is away for a while: polling serves delivery
    reports and frees room once it is back, so an outage only buffers.
    """
    while True:
        try:
            produce()
            return True
        except BufferError:
            if stop.is_set():
                return False
            producer.poll(_WAIT_S)
