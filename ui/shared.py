"""Process-wide shared clients: one Kafka producer and one feed per cluster, not per session.

Every dashboard session and every API request would otherwise open its own
connections to the brokers; these registries hand out one instance per key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from confluent_kafka import Producer

from fleetcast.kafka import make_producer
from fleetcast.settings import Settings

V = TypeVar("V")


class ProcessRegistry(Generic[V]):
    """Lazily builds one value per key and hands the same one out from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Hashable, V] = {}

    def get(self, key: Hashable, build: Callable[[], V]) -> V:
        with self._lock:
            if key not in self._values:
                self._values[key] = build()
            return self._values[key]

    def pop_all(self) -> list[V]:
        with self._lock:
            values = list(self._values.values())
            self._values.clear()
            return values


def cluster_key(settings: Settings) -> tuple[Hashable, ...]:
    """What identifies a Kafka cluster connection: bootstrap servers and security settings."""
    return (settings.kafka_bootstrap_servers, *sorted(settings.kafka_security().items()))


_producers: ProcessRegistry[Producer] = ProcessRegistry()


def shared_producer(settings: Settings) -> Producer:
    """The process's producer for the settings' cluster (used for operator commands)."""
    return _producers.get(cluster_key(settings), lambda: make_producer(settings))


def close_shared_producers(timeout_s: float = 5.0) -> None:
    """Flush and drop the shared producers (shutdown, tests); later calls build new ones."""
    for producer in _producers.pop_all():
        producer.flush(timeout_s)
