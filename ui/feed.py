"""The one background consumer per process that keeps a ``FleetState`` current from Kafka.

``ui.services.UiServices`` hands every dashboard session and API request of a
process the same feed instead of a consumer each. The feed also times the inference worker: a
forecast's ``issued_at`` is taken when its batch starts and the Kafka message
timestamp when it is produced, so their difference is the batch's forecast,
scoring and publishing time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, Message
from pydantic import ValidationError

from core.kafka import make_consumer
from core.settings import Settings
from schemas.alert import AlertEvent
from schemas.forecast import Forecast
from schemas.scenario_state import ScenarioState
from ui.fleet_state import FleetState

log = logging.getLogger(__name__)

#: Inference latencies kept for the pipeline view.
LATENCY_SAMPLES = 2000


class FleetFeed:
    """Consumes forecasts, alerts and applied scenarios into a ``FleetState``.

    Scenarios come from the scenarios topic (what the simulator applied or
    refused), not from the control topic: a command is only a request.

    Its group id is unique and it never commits: every process rebuilds its
    view from the start of the topics, and no two processes share partitions.
    """

    def __init__(
        self,
        settings: Settings,
        state: FleetState | None = None,
        *,
        group_id: str | None = None,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.state = state if state is not None else FleetState.for_settings(settings)
        self.group_id = group_id or f"fleetcast-ui-{uuid.uuid4().hex[:12]}"
        self.poll_timeout_s = poll_timeout_s
        self.applied = 0
        self.undecodable = 0
        #: (monotonic receive time, milliseconds from issue to publish) per forecast.
        self.latencies: deque[tuple[float, float]] = deque(maxlen=LATENCY_SAMPLES)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def evicted(self) -> int:
        return self.state.evicted

    @property
    def refused(self) -> int:
        return self.state.refused

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FleetFeed:
        """Start the consumer thread (once; later calls are no-ops)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fleetcast-ui-feed", daemon=True
                )
                self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def handle(self, topic: str, value: bytes | None, timestamp_ms: int | None = None) -> bool:
        """Decode one message and apply it; returns whether it was decodable."""
        settings = self.settings
        try:
            if value is None:
                raise ValueError("empty message")
            if topic == settings.topic_forecasts:
                forecast = Forecast.model_validate_json(value)
                self.state.apply_forecast(forecast)
                if timestamp_ms is not None:
                    latency = timestamp_ms - forecast.issued_at.timestamp() * 1000
                    self.latencies.append((time.monotonic(), max(latency, 0.0)))
            elif topic == settings.topic_alerts:
                self.state.apply_alert(AlertEvent.model_validate_json(value))
            elif topic == settings.topic_scenarios:
                at = (datetime.fromtimestamp(timestamp_ms / 1000, UTC) if timestamp_ms
                      else datetime.now(UTC))
                self.state.apply_scenario(ScenarioState.model_validate_json(value), at)
            else:
                raise ValueError(f"not a topic this feed reads: {topic}")
        except (ValidationError, ValueError) as exc:
            # A bad message must not take the whole UI down; it is the producer's bug.
            self.undecodable += 1
            log.warning(
                "undecodable message on %s (%d so far): %s", topic, self.undecodable,
                str(exc)[:300],
            )
            return False
        self.applied += 1
        return True

    def _poll(self, consumer: Consumer) -> list[Message]:
        # Wait for the first message only, then take what is already there: a batch
        # ``consume`` with a timeout would sit out the whole timeout on a quiet topic.
        first = consumer.poll(self.poll_timeout_s)
        if first is None:
            return []
        return [first, *consumer.consume(num_messages=999, timeout=0)]

    def _run(self) -> None:
        settings = self.settings
        # A fetch returns as soon as there is data; on a quiet topic the broker may hold it
        # for fetch.wait.max.ms (500 ms by default), which would show as page latency.
        consumer = make_consumer(settings, self.group_id, **{"fetch.wait.max.ms": 50})
        consumer.subscribe(
            [settings.topic_forecasts, settings.topic_alerts, settings.topic_scenarios]
        )
        try:
            while not self._stop.is_set():
                try:
                    for message in self._poll(consumer):
                        if message.error():
                            log.warning("consumer error: %s", message.error())
                            continue
                        kind, stamp = message.timestamp()
                        self.handle(message.topic() or "", message.value(),
                                    None if kind == TIMESTAMP_NOT_AVAILABLE else stamp)
                except Exception:
                    # Keep the view alive through broker hiccups; librdkafka reconnects.
                    log.exception("fleet feed poll failed; retrying")
                    self._stop.wait(1.0)
        finally:
            consumer.close()
