"""The inference worker's Kafka loop (``fleetcast infer``).

Windows are consumed into micro-batches; each batch is forecast, scored and
published, and only then are the offsets committed (at-least-once). A window
that cannot be decoded, or a batch that fails, goes to the dead-letter topic
with the reason: nothing is dropped silently. Forecasts are keyed by server
and carry a ``forecast_id`` per window, so a re-scored window replaces its
earlier forecast downstream instead of doubling it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from confluent_kafka import Message
from pydantic import ValidationError

from fleetcast.kafka import (
    commit,
    dead_letter_message,
    ensure_topics,
    make_consumer,
    make_producer,
)
from fleetcast.runtime import stop_on_signals
from fleetcast.settings import Settings
from inference_worker.alerts import AlertTracker
from inference_worker.batcher import MicroBatcher
from inference_worker.forecaster import Forecaster
from inference_worker.loading import forecaster_from_settings
from inference_worker.pipeline import score_batch
from schemas.common import describe_validation_error
from schemas.context_window import ContextWindow

log = logging.getLogger(__name__)
STAGE = "infer"


class InferenceWorker:
    def __init__(self, settings: Settings, forecaster: Forecaster | None = None) -> None:
        self.settings = settings
        self.forecaster = forecaster if forecaster is not None else forecaster_from_settings(
            settings
        )
        self.tracker = AlertTracker()
        self.batcher: MicroBatcher[tuple[Message, ContextWindow]] = MicroBatcher(
            settings.batch_size, settings.batch_deadline_ms / 1000
        )
        self.stats = {"windows": 0, "forecasts": 0, "superseded": 0, "alerts": 0,
                      "dead_letters": 0, "batches": 0}
        self._consumer = make_consumer(settings, settings.infer_group_id)
        self._producer = make_producer(settings)

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe([self.settings.topic_windows])
        log.info("inference worker up: model %s, batch %d / %d ms",
                 self.forecaster.version, self.batcher.max_size, self.settings.batch_deadline_ms)
        last_report = time.monotonic()
        try:
            while not stop.is_set():
                self.poll_once()
                if time.monotonic() - last_report > 30:
                    log.info("infer stats %s", self.stats)
                    last_report = time.monotonic()
            if len(self.batcher):
                self._process(self.batcher.take())
        finally:
            self._producer.flush(10)
            self._consumer.close()

    def poll_once(self) -> None:
        messages = self._consumer.consume(
            num_messages=self.batcher.room, timeout=max(self.batcher.time_left(), 0.001)
        )
        for message in messages:
            if message.error():
                log.warning("consumer error: %s", message.error())
                continue
            self.stats["windows"] += 1
            window = self._decode(message)
            if window is not None:
                self.batcher.add((message, window))
        self._producer.poll(0)
        if self.batcher.is_due():
            self._process(self.batcher.take())
        elif not self.batcher and messages:
            # Only dead letters this round: commit past them once they are out.
            self._producer.flush(10)
            commit(self._consumer)

    def _decode(self, message: Message) -> ContextWindow | None:
        try:
            return ContextWindow.model_validate_json(message.value() or b"")
        except ValidationError as exc:
            self._dead_letter(message, f"invalid context window: {describe_validation_error(exc)}")
            return None

    def _process(self, received: list[tuple[Message, ContextWindow]]) -> None:
        batch = newest_per_server(received)
        self.stats["superseded"] += len(received) - len(batch)
        windows = [window for _, window in batch]
        try:
            scored = score_batch(self.forecaster, windows, self.tracker, datetime.now(UTC))
        except Exception as exc:
            log.exception("batch of %d windows failed", len(batch))
            for message, _ in batch:
                self._dead_letter(message, f"batch failed: {type(exc).__name__}: {exc}")
        else:
            for result in scored:
                key = result.forecast.server_id.encode()
                self._producer.produce(
                    self.settings.topic_forecasts, key=key, value=result.forecast.to_bytes()
                )
                if result.alert is not None:
                    self._producer.produce(
                        self.settings.topic_alerts, key=key, value=result.alert.to_bytes()
                    )
                    self.stats["alerts"] += 1
                    log.info("alert %s %s %s", result.alert.status, result.alert.severity,
                             result.alert.summary)
            self.stats["forecasts"] += len(scored)
            self.stats["batches"] += 1
        # At-least-once: commit only what has been published.
        remaining = self._producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} messages not delivered; not committing offsets")
        commit(self._consumer)

    def _dead_letter(self, message: Message, reason: str) -> None:
        dead_letter_message(self.settings, self._producer, message, stage=STAGE, reason=reason)
        self.stats["dead_letters"] += 1


def newest_per_server(
    batch: list[tuple[Message, ContextWindow]],
) -> list[tuple[Message, ContextWindow]]:
    """Only the newest window of each server in a batch is forecast.

    A backlog (the 24 h backfill at start, a worker catching up after a
    restart) delivers many windows per server at once; forecasting the
    older ones would only publish forecasts that are stale on arrival. They
    are counted as superseded and their offsets committed with the batch.
    """
    newest: dict[str, int] = {}
    for i, (_, window) in enumerate(batch):
        held = newest.get(window.server_id)
        if held is None or window.end >= batch[held][1].end:
            newest[window.server_id] = i
    return [batch[i] for i in sorted(newest.values())]


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    ensure_topics(settings)
    InferenceWorker(settings).run(stop or stop_on_signals())
