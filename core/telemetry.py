"""fleetcast watched by Prometheus: the metric definitions every service shares, and ``/metrics``.

Every service records into the same few families, told apart by the ``stage``
label (``produce``, ``process``, ``infer``, ``source_host``, ...) and the topic:

- ``fleetcast_events_consumed_total``, ``fleetcast_events_produced_total``
- ``fleetcast_dead_letters_total`` (``topic`` is the topic the input came from)
- ``fleetcast_delivery_failures_total``: messages the broker never took
- ``fleetcast_dead_letter_failures_total``: dead letters that could not be published
- ``fleetcast_consumer_lag``: messages between a partition's newest and the last read
- ``fleetcast_batch_size``, ``fleetcast_inference_latency_seconds`` (histograms)
- ``fleetcast_model_info``: the forecaster in use (version, kind)
- ``fleetcast_source_samples_total``, ``fleetcast_alerts_forwarded_total``
- ``fleetcast_ui_tick_seconds``, ``fleetcast_ui_draw_lag_seconds``,
  ``fleetcast_ui_view_model_seconds`` (histograms): the dashboard's server-side time per page
  redraw, from its tick to the end of each redraw, and per part of the shared view model
- ``fleetcast_feed_applied_total``, ``fleetcast_feed_undecodable_total``,
  ``fleetcast_feed_evicted_total``, ``fleetcast_feed_refused_total``: the API's and
  dashboard's read model, fed from the forecast, alert and scenario topics, and the
  servers it dropped (silent) or would not take (at its cap)

``serve_metrics(settings, service)`` serves them on the service's own port
(``FLEETCAST_METRICS_PORT_<SERVICE>``, 0 = off); the API mounts them on its
app instead. ``fields(...)`` renders the ``key=value`` part of the one log
line each event of note gets.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily

from core import __version__
from core.settings import Settings

log = logging.getLogger(__name__)

Service = Literal["produce", "process", "infer", "ui", "source", "forward"]

def _per_stage_and_topic(name: str, documentation: str) -> Counter:
    return Counter(name, documentation, ["stage", "topic"])


EVENTS_CONSUMED: Final = _per_stage_and_topic(
    "fleetcast_events_consumed", "Messages read from a topic, per stage.")
EVENTS_PRODUCED: Final = _per_stage_and_topic(
    "fleetcast_events_produced", "Messages handed to Kafka for a topic, per stage.")
DEAD_LETTERS: Final = _per_stage_and_topic(
    "fleetcast_dead_letters",
    "Inputs rejected to the dead-letter topic, per stage and the topic (or source) they came from.")
DEAD_LETTER_FAILURES: Final = _per_stage_and_topic(
    "fleetcast_dead_letter_failures",
    "Dead letters that could not be published (refused by the client or never acknowledged), "
    "per stage and the topic the input came from; the input is passed over all the same.")
DELIVERY_FAILURES: Final = _per_stage_and_topic(
    "fleetcast_delivery_failures", "Messages the broker did not take, per stage and topic.")
CONSUMER_LAG: Final = Gauge(
    "fleetcast_consumer_lag",
    "Messages in a partition after the last one this stage has read (high watermark - 1 - read).",
    ["stage", "topic", "partition"],
)
BATCH_SIZE: Final = Histogram(
    "fleetcast_batch_size", "Messages per processed batch, per stage.", ["stage"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
INFERENCE_LATENCY: Final = Histogram(
    "fleetcast_inference_latency_seconds",
    "Time to forecast and score one micro-batch of windows.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
UI_TICK: Final = Histogram(
    "fleetcast_ui_tick_seconds",
    "Server-side time of one dashboard page's periodic redraw (on the event loop).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
UI_DRAW_LAG: Final = Histogram(
    "fleetcast_ui_draw_lag_seconds",
    "From the dashboard's tick to the end of one page's redraw of its view model (the event "
    "loop's queue plus the redraw): the server's part of a change's way to the screen.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0),
)
UI_VIEW_MODEL: Final = Histogram(
    "fleetcast_ui_view_model_seconds",
    "Time to build one part of the dashboard's view model that every session of a tick shares.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
MODEL_INFO: Final = Info("fleetcast_model", "The forecaster the inference worker uses.")
SERVICE_INFO: Final = Info("fleetcast_service", "The fleetcast service and version.")
SOURCE_SAMPLES: Final = Counter(
    "fleetcast_source_samples",
    "Samples taken by a real metric source, by outcome (published, rejected, failed, empty).",
    ["source", "outcome"],
)
ALERTS_FORWARDED: Final = Counter(
    "fleetcast_alerts_forwarded",
    "Alert events handed to an outside destination, by outcome (delivered, dead_lettered, "
    "retried).",
    ["destination", "outcome"],
)


#: The read models' counters, each summed per service at scrape: (attribute, help).
_FEED_COUNTERS: Final = (
    ("applied", "Messages applied to the read model, per service."),
    ("undecodable", "Messages the read model could not decode, per service."),
    ("evicted", "Servers the read model dropped to make room, after a silence, per service."),
    ("refused", "Servers the read model did not take, at its cap with none silent, per service."),
)


class _FeedCollector:
    """The read models' counters (``_FEED_COUNTERS``), summed per service at scrape."""

    def __init__(self) -> None:
        self._feeds: dict[str, weakref.WeakSet[Any]] = {}
        self._lock = threading.Lock()

    def watch(self, service: str, feed: Any) -> None:
        with self._lock:
            self._feeds.setdefault(service, weakref.WeakSet()).add(feed)

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            watched = {service: list(feeds) for service, feeds in self._feeds.items()}
        for name, documentation in _FEED_COUNTERS:
            family = CounterMetricFamily(f"fleetcast_feed_{name}", documentation,
                                         labels=["service"])
            for service, feeds in watched.items():
                family.add_metric([service], sum(getattr(f, name, 0) for f in feeds))
            yield family


_FEEDS: Final = _FeedCollector()
REGISTRY.register(_FEEDS)


def watch_feed(service: str, feed: Any) -> None:
    """Expose a read model's counts (``_FEED_COUNTERS``) under ``service``."""
    _FEEDS.watch(service, feed)


async def metrics_endpoint(_request: Any) -> Any:
    """``GET /metrics`` for an ASGI (Starlette, FastAPI) app: this process's metrics."""
    from starlette.responses import Response

    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@dataclass
class MetricsServer:
    """A running ``/metrics`` endpoint; ``close`` stops it (services stopped in tests)."""

    service: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def serve_metrics(settings: Settings, service: Service) -> MetricsServer | None:
    """Serve this process's metrics on the service's port; None when off or the port is taken.

    A port already in use is logged, not fatal: the service does its work without it.
    """
    SERVICE_INFO.info({"service": service, "version": __version__})
    port = int(getattr(settings, f"metrics_port_{service}"))
    if port == 0:
        log.info("/metrics of %s is off (FLEETCAST_METRICS_PORT_%s=0)", service, service.upper())
        return None
    try:
        server, thread = start_http_server(port, addr=settings.metrics_host)
    except OSError as exc:
        log.warning("/metrics of %s not served: %s:%d: %s", service, settings.metrics_host, port,
                    exc)
        return None
    running = MetricsServer(service, port, server, thread)
    log.info("serving Prometheus metrics of %s on %s", service, running.url)
    return running


def close_metrics(server: MetricsServer | None) -> None:
    if server is not None:
        server.close()


def record_consumed(stage: str, consumer: Consumer, messages: Iterable[Message]) -> None:
    """Count messages read (errors excluded) and set the lag of each partition they came from."""
    newest: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is not None:
            continue
        topic, partition = message.topic() or "", message.partition() or 0
        EVENTS_CONSUMED.labels(stage, topic).inc()
        newest[topic, partition] = max(newest.get((topic, partition), -1), message.offset() or 0)
    for (topic, partition), offset in newest.items():
        try:
            # Cached: the high watermark comes with every fetch, no extra request.
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
        except KafkaException:
            continue
        if high >= 0:
            CONSUMER_LAG.labels(stage, topic, str(partition)).set(max(high - offset - 1, 0))


class Totals:
    """Feeds running totals kept elsewhere (a stats object) into Prometheus counters."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}

    def sync(self, counter: Any, total: float) -> None:
        """Increase ``counter`` (one labelled child) by the growth of ``total`` since last time."""
        grown = total - self._seen.get(id(counter), 0.0)
        if grown > 0:
            counter.inc(grown)
            self._seen[id(counter)] = total


def fields(**values: object) -> str:
    """``key=value`` pairs for a log line (logfmt: values with spaces or quotes are quoted)."""
    parts = []
    for key, value in values.items():
        text = "-" if value is None else str(value)
        if not text or any(c in text for c in ' "='):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)
