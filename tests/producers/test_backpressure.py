from __future__ import annotations

import threading
from typing import Any, cast

from confluent_kafka import Producer

from producers.backpressure import produce_patiently


class FullQueue:
    """A producer whose local queue is full for the first ``full_for`` attempts."""

    def __init__(self, full_for: int) -> None:
        self.full_for = full_for
        self.attempts = 0
        self.polls = 0
        self.sent: list[bytes] = []

    def produce(self, value: bytes) -> None:
        self.attempts += 1
        if self.attempts <= self.full_for:
            raise BufferError("Local: Queue full")
        self.sent.append(value)

    def poll(self, timeout: float) -> int:
        self.polls += 1
        return 0


def patiently(fake: FullQueue, stop: threading.Event) -> bool:
    producer = cast(Producer, cast(Any, fake))
    return produce_patiently(producer, stop, lambda: fake.produce(b"event"))


def test_a_full_queue_is_waited_out_by_polling() -> None:
    fake = FullQueue(full_for=3)
    assert patiently(fake, threading.Event())
    assert fake.sent == [b"event"]
    assert fake.polls == 3


def test_gives_up_when_stopping() -> None:
    fake = FullQueue(full_for=10**9)
    stop = threading.Event()
    stop.set()
    assert not patiently(fake, stop)
    assert fake.sent == []
