"""The thin loop that samples a real source and publishes metric events (or dead letters).

Every ``source_interval_s`` the source is read; two consecutive samples of the
same server are mapped onto one ``MetricEvent`` (``mapping.to_values``) and
sent through the simulator's ``MetricPublisher``. A source that cannot be
reached is logged, counted and tried again next round; a sample that cannot be
used (a page that is not node_exporter text, values a metric event refuses)
goes to the dead-letter topic with the reason. Neither stops the loop.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Final, Protocol

from pydantic import ValidationError

from core import telemetry
from core.kafka import dead_letter, ensure_topics, make_producer
from core.runtime import stop_on_signals
from core.settings import Settings
from producers.backpressure import produce_patiently
from producers.service import MetricPublisher
from producers.sources.mapping import Sample, to_values
from schemas.common import describe_validation_error
from schemas.metric_event import MetricEvent

log = logging.getLogger(__name__)

#: The most of a rejected page kept in its dead letter.
MAX_DEAD_LETTER_BYTES: Final = 64 * 1024
_REPORT_EVERY_S: Final = 300.0
_FLUSH_TIMEOUT_S: Final = 10.0


class SourceUnavailableError(Exception):
    """The source could not be read this time (down, refused, timed out): try again later."""


class SampleRejectedError(ValueError):
    """The source answered with something unusable; ``raw`` goes into the dead letter."""

    def __init__(self, reason: str, raw: bytes) -> None:
        super().__init__(reason)
        self.raw = raw


@dataclass(frozen=True)
class Reading:
    server_id: str
    sample: Sample
    taken_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Source(Protocol):
    stage: str  # the telemetry and dead-letter stage, e.g. source_host
    origin: str  # where samples come from (a URL, "psutil"): the dead letter's source

    def read(self) -> Reading: ...


def build_event(reading: Reading, previous: Sample | None) -> MetricEvent | None:
    """The event for a reading (None when nothing could be mapped yet); may raise rejected."""
    values = to_values(previous, reading.sample)
    if all(value is None for value in values.values()):
        return None
    try:
        return MetricEvent(server_id=reading.server_id, timestamp=reading.taken_at, **values)
    except ValidationError as exc:
        raw = json.dumps({"server_id": reading.server_id, **values}).encode()
        raise SampleRejectedError(
            f"mapped values refused: {describe_validation_error(exc)}", raw) from None


@dataclass
class SourceStats:
    published: int = 0
    rejected: int = 0
    failed: int = 0
    empty: int = 0


class SourceLoop:
    """Reads a source once per ``step`` and publishes the outcome."""

    def __init__(self, settings: Settings, source: Source, stop: threading.Event) -> None:
        self.settings = settings
        self.source = source
        self.stats = SourceStats()
        self._stop = stop
        self._producer = make_producer(settings)
        self.publisher = MetricPublisher(settings, self._producer, stop, stage=source.stage)
        self._previous: Reading | None = None

    def step(self) -> str:
        """Take one sample; returns the outcome (published, empty, failed, rejected)."""
        try:
            reading = self.source.read()
            previous = self._previous
            self._previous = reading
            same_server = previous is not None and previous.server_id == reading.server_id
            event = build_event(reading, previous.sample if same_server and previous else None)
        except SourceUnavailableError as exc:
            return self._count("failed", str(exc), logging.WARNING)
        except SampleRejectedError as exc:
            self._reject(str(exc), exc.raw)
            return self._count("rejected", str(exc), logging.WARNING)
        if event is None:
            if same_server:  # a second sample and still nothing: the source measures nothing
                reason = "no metric could be mapped from two consecutive samples"
                self._reject(reason, json.dumps(asdict(reading.sample)).encode())
                return self._count("rejected", reason, logging.WARNING)
            return self._count("empty", "first sample holds no gauge; rates need a second",
                               logging.INFO)
        self.publisher.send([event])
        self.publisher.poll()
        if self.stats.published == 0:
            log.info("first event from %s: %s", self.source.origin, telemetry.fields(
                topic=self.settings.topic_metrics, server_id=event.server_id,
                **{k: v for k, v in event.values().items() if v is not None}))
        return self._count("published", "", logging.DEBUG)

    def _count(self, outcome: str, detail: str, level: int) -> str:
        setattr(self.stats, outcome, getattr(self.stats, outcome) + 1)
        telemetry.SOURCE_SAMPLES.labels(self.source.stage, outcome).inc()
        if detail:
            log.log(level, "sample %s: %s", outcome, telemetry.fields(
                source=self.source.origin, reason=detail[:300]))
        return outcome

    def _reject(self, reason: str, raw: bytes) -> None:
        send = partial(dead_letter, self.settings, self._producer, stage=self.source.stage,
                       reason=reason, source_topic=self.source.origin,
                       value=raw[:MAX_DEAD_LETTER_BYTES])
        if produce_patiently(self._producer, self._stop, send):
            telemetry.DEAD_LETTERS.labels(self.source.stage, self.source.origin).inc()

    def close(self) -> int:
        """Flush what is still queued; returns how many messages were left unsent."""
        return int(self._producer.flush(_FLUSH_TIMEOUT_S))


def run_source(
    settings: Settings,
    source: Source,
    stop: threading.Event | None = None,
    *,
    samples: int | None = None,
) -> SourceStats:
    """Sample ``source`` every ``source_interval_s`` until stopped (or ``samples`` taken)."""
    stop = stop_on_signals(stop)
    ensure_topics(settings)
    metrics = telemetry.serve_metrics(settings, "source")
    loop = SourceLoop(settings, source, stop)
    log.info("sampling %s every %g s into %s", source.origin, settings.source_interval_s,
             settings.topic_metrics)
    taken = 0
    next_report = time.monotonic() + _REPORT_EVERY_S
    try:
        while not stop.is_set():
            started = time.monotonic()
            loop.step()
            taken += 1
            if samples is not None and taken >= samples:
                break
            if started >= next_report:
                next_report += _REPORT_EVERY_S
                log.info("source stats %s", telemetry.fields(**asdict(loop.stats)))
            stop.wait(max(settings.source_interval_s - (time.monotonic() - started), 0.0))
    finally:
        unsent = loop.close()
        telemetry.close_metrics(metrics)
        log.info("source stopped: %s", telemetry.fields(unsent=unsent, **asdict(loop.stats)))
    return loop.stats
