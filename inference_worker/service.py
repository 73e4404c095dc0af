"""The inference worker's Kafka loop (``fleetcast infer``).

Windows are consumed into micro-batches; each batch is forecast, scored and
published, and only then are the offsets committed (at-least-once). A window
that cannot be decoded, or a batch that fails, goes to the dead-letter topic
with the reason: nothing is dropped silently. Forecasts are keyed by server
and carry a ``forecast_id`` per window, so a re-scored window replaces its
earlier forecast downstream instead of doubling it.

Between batches the worker also reads ``reload_model`` commands from the
control topic and swaps in a newly loaded model (``reload.py``).

Open alerts outlive the process (``alert_state.py``): after the alerts of a
batch are delivered, each alerting server's open alert (or a tombstone) goes
to the alert-state topic, before the offsets are committed; when the group
hands the worker windows partitions, it reads their open alerts back before
it scores a window of them. So a server that recovers after a crash, a
restart or a rebalance is resolved under the alert_id that fired.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from datetime import UTC, datetime

from confluent_kafka import Message, TopicPartition
from pydantic import ValidationError

from core import telemetry
from core.control import open_control_consumer
from core.kafka import (
    commit,
    dead_letter_message,
    drain,
    ensure_topics,
    make_consumer,
    make_producer,
)
from core.runtime import stop_on_signals
from core.settings import Settings
from inference_worker.alert_state import check_copartitioned, load_open_alerts, write_state
from inference_worker.alerts import AlertTracker
from inference_worker.batch_scoring import score_batch
from inference_worker.batcher import MicroBatcher
from inference_worker.forecaster import Forecaster
from inference_worker.loading import calibration_for
from inference_worker.reload import ModelReloader, Outcome, reloadable_forecaster
from schemas.common import describe_validation_error
from schemas.context_window import ContextWindow
from schemas.control_event import ReloadModel, is_command

log = logging.getLogger(__name__)
STAGE = "infer"


class InferenceWorker:
    def __init__(self, settings: Settings, forecaster: Forecaster | None = None) -> None:
        self.settings = settings
        self._reloader: ModelReloader | None = None
        if forecaster is None:
            forecaster, self._reloader = reloadable_forecaster(settings)
        self.forecaster = forecaster
        self.calibration = calibration_for(settings, forecaster.version)
        self.tracker = AlertTracker()
        self.partitions: tuple[int, ...] = ()  # the windows partitions held now
        self.batcher: MicroBatcher[tuple[Message, ContextWindow]] = MicroBatcher(
            settings.batch_size, settings.batch_deadline_ms / 1000
        )
        self.stats = {"windows": 0, "forecasts": 0, "superseded": 0, "alerts": 0,
                      "dead_letters": 0, "batches": 0, "reloads": 0, "failed_reloads": 0}
        self._consumer = make_consumer(settings, settings.infer_group_id)
        self._producer = make_producer(settings)
        # Every worker reads every command: its own group, from the end of the topic.
        self._control = open_control_consumer(settings) if self._reloader else None

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe([self.settings.topic_windows], on_assign=self._assigned,
                                 on_revoke=self._revoked)
        telemetry.MODEL_INFO.info({"version": self.forecaster.version,
                                   "kind": type(self.forecaster).__name__})
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
            if self._control is not None:
                self._control.close()
            if self._reloader is not None:
                self._reloader.close()

    def poll_once(self) -> None:
        self._follow_model()
        messages = self._consumer.consume(
            num_messages=self.batcher.room, timeout=max(self.batcher.time_left(), 0.001)
        )
        telemetry.record_consumed(STAGE, self._consumer, messages)
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

    def _assigned(self, consumer: object, partitions: list[TopicPartition]) -> None:
        """Before any window of them is scored: the open alerts of the servers handed over."""
        log_assignment(consumer, partitions)
        held = sorted(tp.partition for tp in partitions)
        started = time.monotonic()
        self.tracker.seed(load_open_alerts(self.settings, held, self._dead_letter))
        log.info("open alerts of windows partitions %s: %d, read from %s in %.2f s", held,
                 len(self.tracker.open_alerts()), self.settings.topic_alert_state,
                 time.monotonic() - started)
        self._producer.flush(10)  # dead letters of unreadable state records, if any
        self.partitions = tuple(held)

    def _revoked(self, _: object, partitions: list[TopicPartition]) -> None:
        """Let go of the servers: their next owner reads their alerts from the state topic.

        Windows consumed but not yet scored are dropped, not scored: their
        offsets are not committed, so the next owner (perhaps this worker
        again) scores them with the alerts it has read back.
        """
        self.partitions = ()
        dropped = self.batcher.take()
        self.tracker.seed([])
        log.info("windows partitions revoked: %s (%d unscored windows left to their next owner)",
                 sorted(tp.partition for tp in partitions), len(dropped))

    def _follow_model(self) -> None:
        """Between batches: start a reload when asked to, swap in a model once it is loaded."""
        if self._reloader is None:
            return
        assert self._control is not None
        for message in drain(self._control, 0, max_messages=10):
            if is_command(message.value() or b"", ReloadModel):
                self._reloader.request(message, command=True)
        self._reloader.check()
        outcome = self._reloader.ready()
        if outcome is not None:
            self._swap(outcome)

    def _swap(self, outcome: Outcome) -> None:
        if outcome.forecaster is not None:
            log.info("model %s replaces %s", outcome.forecaster.version, self.forecaster.version)
            self.forecaster = outcome.forecaster
            self.calibration = calibration_for(self.settings, self.forecaster.version)
            telemetry.MODEL_INFO.info({"version": self.forecaster.version,
                                       "kind": type(self.forecaster).__name__})
            self.stats["reloads"] += 1
            return
        self.stats["failed_reloads"] += 1
        log.error("model reload failed, %s keeps serving: %s", self.forecaster.version,
                  outcome.error)
        for requested_by in outcome.requested_by:
            if isinstance(requested_by, Message):  # a reload_model command: answer it
                self._dead_letter(requested_by, f"reload_model failed, "
                                  f"{self.forecaster.version} keeps serving: {outcome.error}")
        self._producer.flush(10)

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
        telemetry.BATCH_SIZE.labels(STAGE).observe(len(batch))
        try:
            with telemetry.INFERENCE_LATENCY.time():
                scored = score_batch(self.forecaster, windows, self.tracker, datetime.now(UTC),
                                     self.calibration)
        except Exception as exc:
            log.exception("batch of %d windows failed", len(batch))
            for message, _ in batch:
                self._dead_letter(message, f"batch failed: {type(exc).__name__}: {exc}")
        else:
            alerted: list[tuple[int, str]] = []  # (windows partition, server) of each alert
            for (message, _), result in zip(batch, scored, strict=True):
                key = result.forecast.server_id.encode()
                self._producer.produce(
                    self.settings.topic_forecasts, key=key, value=result.forecast.to_bytes()
                )
                if result.alert is not None:
                    self._producer.produce(
                        self.settings.topic_alerts, key=key, value=result.alert.to_bytes()
                    )
                    # A consumed window always has its partition; "or 0" is for the type.
                    alerted.append((message.partition() or 0, result.alert.server_id))
                    self.stats["alerts"] += 1
                    self._produced(self.settings.topic_alerts)
                    log.info("alert %s %s %s %s", result.alert.status, result.alert.severity,
                             result.alert.summary, telemetry.fields(
                                 topic=message.topic(), partition=message.partition(),
                                 offset=message.offset(), server_id=result.alert.server_id))
            self.stats["forecasts"] += len(scored)
            self._produced(self.settings.topic_forecasts, len(scored))
            self.stats["batches"] += 1
            if alerted:
                # The state follows the alerts it records, never precedes them: a crash
                # in between re-scores the window and fires the same alert_id again,
                # where state ahead of a lost alert would keep that alert unpublished.
                self._flush_or_raise()
                for partition, server_id in alerted:
                    write_state(self.settings, self._producer, server_id=server_id,
                                partition=partition, alert=self.tracker.get(server_id))
        # At-least-once: commit only what has been published.
        self._flush_or_raise()
        commit(self._consumer)

    def _flush_or_raise(self) -> None:
        remaining = self._producer.flush(30)
        if remaining:
            raise RuntimeError(f"{remaining} messages not delivered; not committing offsets")

    def _dead_letter(self, message: Message, reason: str) -> None:
        dead_letter_message(self.settings, self._producer, message, stage=STAGE, reason=reason)
        self.stats["dead_letters"] += 1
        telemetry.DEAD_LETTERS.labels(STAGE, message.topic() or "").inc()

    def _produced(self, topic: str, count: int = 1) -> None:
        telemetry.EVENTS_PRODUCED.labels(STAGE, topic).inc(count)


def log_assignment(_: object, partitions: list[TopicPartition]) -> None:
    """Which windows partitions this worker holds now: how scale-out is seen (and tested)."""
    log.info("windows partitions assigned: %s", sorted(tp.partition for tp in partitions))


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
    check_copartitioned(settings)
    metrics = telemetry.serve_metrics(settings, "infer")
    try:
        InferenceWorker(settings).run(stop or stop_on_signals())
    finally:
        telemetry.close_metrics(metrics)


def main(settings: Settings) -> int:
    """``fleetcast infer``: 2 with the reason when the device asked for is not there."""
    from inference_worker.device import DeviceUnavailableError, pick_device

    try:
        pick_device(settings.device)  # checked before Kafka, whatever the forecaster
    except DeviceUnavailableError as exc:
        print(f"fleetcast infer: {exc}", file=sys.stderr)
        return 2
    run(settings)
    return 0
