"""What one UI process shares between its sessions and requests, built once at its entry point.

The dashboard's ``serve`` and the API's ``create_app`` each build one ``UiServices`` and pass it
down (to every page's ``Context``, to every request through ``app.state``): one Kafka feed, one
producer for operator commands, one pipeline monitor and the models the insight view loaded,
instead of a consumer, a producer and a model per session. Nothing is kept in module globals,
so two apps in one process (tests) never share a client by accident.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from confluent_kafka import Producer

from core.kafka import make_producer
from core.settings import Settings
from schemas.context_window import ContextWindow
from ui.feed import FleetFeed
from ui.fleet_state import FleetState
from ui.pipeline_monitor import PipelineMonitor

if TYPE_CHECKING:
    from inference_worker.tft.artifacts import LoadedModel

#: Sessions share O(fleet) reads for this long (see ``FleetState``).
SHARED_REUSE_S = 0.25


class UiServices:
    """The feed, producer, monitor and models of one UI process; each built on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        feed: FleetFeed | None = None,
        state: FleetState | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.settings = settings
        #: None when the state is handed in (tests): nothing reads Kafka then.
        self.feed = feed
        self.state = (feed.state if feed is not None
                      else state or FleetState.for_settings(settings))
        self._producer = producer
        self._monitor: PipelineMonitor | None = None
        self._models: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_kafka(cls, settings: Settings) -> UiServices:
        """Services over a Kafka feed of the settings' topics (not started yet)."""
        return cls(settings, feed=FleetFeed(
            settings, FleetState.for_settings(settings, reuse_s=SHARED_REUSE_S)))

    def producer(self) -> Producer:
        """The producer for operator commands, opened on first use (read-only deployments
        never open one)."""
        with self._lock:
            if self._producer is None:
                self._producer = make_producer(self.settings)
            return self._producer

    def monitor(self) -> PipelineMonitor:
        """The pipeline monitor, started on first use."""
        with self._lock:
            if self._monitor is None:
                self._monitor = PipelineMonitor(self.settings)
            monitor = self._monitor
        return monitor.start()

    def model(self, path: str) -> LoadedModel:
        """The model at ``path`` (for the insight view), loaded once; torch only on first use."""
        with self._lock:
            if path not in self._models:
                from inference_worker.tft.artifacts import load

                self._models[path] = load(Path(path))
            return self._models[path]

    def find_window(
        self, server_id: str, end: datetime, issued_at: datetime
    ) -> ContextWindow | None:
        """The server's context window behind a forecast, from the windows topic; None without
        a Kafka feed (a state handed in reads no topic)."""
        if self.feed is None:
            return None
        from ui.windows_lookup import find_window

        return find_window(self.settings, server_id, end, issued_at)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the feed and monitor and flush the producer (shutdown, tests)."""
        if self.feed is not None:
            self.feed.stop()
        with self._lock:
            monitor, producer = self._monitor, self._producer
            self._monitor = self._producer = None
        if monitor is not None:
            monitor.stop()
        if producer is not None:
            producer.flush(timeout_s)
