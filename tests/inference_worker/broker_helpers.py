"""Broker helpers for the inference worker tests: a worker in a thread, windows in, topics out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from confluent_kafka import Message

from core.kafka import make_producer
from core.settings import Settings
from inference_worker.forecaster import Forecaster
from inference_worker.service import InferenceWorker
from schemas.dead_letter import DeadLetter
from schemas.forecast import Forecast
from tests.helpers import ServiceThread, TopicReader
from tests.inference_worker.factories import STEP, T0, make_window

WAIT_S = 30.0
QUIET_S = 2.0  # how long "nothing more arrives" is watched for


class Running(ServiceThread):
    """An inference worker in a thread."""

    def __init__(self, settings: Settings, forecaster: Forecaster | None = None) -> None:
        self.worker = InferenceWorker(settings, forecaster)
        super().__init__(self.worker.run)


def publish(settings: Settings, messages: Sequence[tuple[bytes | None, bytes]],
            topic: str | None = None) -> None:
    producer = make_producer(settings)
    for key, value in messages:
        producer.produce(topic or settings.topic_windows, key=key, value=value)
    assert producer.flush(10) == 0


def window_message(server_id: str, step: int, **series: float) -> tuple[bytes, bytes]:
    window = make_window(server_id, series, end=T0 + step * STEP, noise=0.3, seed=step)
    return server_id.encode(), window.to_bytes()


def at_least(n: int) -> Callable[[list[Message]], bool]:
    return lambda messages: len(messages) >= n


def settle(*readers: TopicReader) -> None:
    """Keep reading for a while, so that anything more that was coming has come."""
    deadline = time.monotonic() + QUIET_S
    while time.monotonic() < deadline:
        for reader in readers:
            reader.poll(0.1)


def forecasts_of(reader: TopicReader) -> list[Forecast]:
    out = []
    for message in reader.messages:
        forecast = Forecast.model_validate_json(message.value() or b"")
        assert message.key() == forecast.server_id.encode()
        out.append(forecast)
    return out


def letters_of(reader: TopicReader) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(m.value() or b"") for m in reader.messages]
