"""Pipeline health from the cluster itself: end offsets, committed offsets, lag and rates.

A ``PipelineMonitor`` samples every few seconds, in one thread per process,
the high watermark of every catalogue topic and the committed offsets of the
pipeline's consumer groups (the stream processor's on the metrics topic, the
inference worker's on the windows topic). Lag is end minus committed, summed
over partitions; a rate is the growth of a topic's end offsets over the last
samples. The arithmetic is in pure functions, tested without Kafka.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from confluent_kafka import Consumer, KafkaException, TopicPartition

from core.kafka import make_consumer
from core.settings import Settings

log = logging.getLogger(__name__)

SAMPLE_EVERY_S = 2.0
#: Rates are averaged over this many seconds of samples.
RATE_WINDOW_S = 10.0
_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Lag:
    group: str
    role: str  # what the group is: stream processor, inference worker
    topic: str
    end: int  # messages ever written (sum of the partitions' high watermarks)
    committed: int | None  # None: the group has committed nothing yet
    lag: int | None


@dataclass
class Snapshot:
    sampled_at: datetime | None = None
    ends: dict[str, int] = field(default_factory=dict)
    lags: list[Lag] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)  # messages per second per topic
    error: str | None = None


def lag_of(ends: Mapping[int, int], committed: Mapping[int, int]) -> int | None:
    """Messages not yet committed, over partitions; None when nothing was ever committed."""
    if not committed:
        return None
    return sum(max(0, end - committed.get(p, 0)) for p, end in ends.items())


def rate(samples: Sequence[tuple[float, int]]) -> float:
    """Messages per second between the oldest and newest ``(monotonic time, end)`` samples."""
    if len(samples) < 2:
        return 0.0
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    return max(0.0, (n1 - n0) / (t1 - t0)) if t1 > t0 else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


class PipelineMonitor:
    """Samples the cluster in a background thread; ``snapshot()`` is the latest sample."""

    def __init__(self, settings: Settings, every_s: float = SAMPLE_EVERY_S) -> None:
        self.settings = settings
        self.every_s = every_s
        #: (group id, what it is, the topic it consumes)
        self.groups = [
            (settings.process_app_id, "stream processor", settings.topic_metrics),
            (settings.infer_group_id, "inference worker", settings.topic_windows),
        ]
        self._history: dict[str, deque[tuple[float, int]]] = {}
        self._snapshot = Snapshot()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PipelineMonitor:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fleetcast-ui-pipeline",
                                                daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def _run(self) -> None:
        # Consumers that never subscribe: one reads watermarks, one per group reads its
        # committed offsets (an OffsetFetch, which does not join or disturb the group).
        readers = {group: make_consumer(self.settings, group) for group, _, _ in self.groups}
        try:
            while not self._stop.is_set():
                try:
                    sample = self.sample(readers)
                except (KafkaException, RuntimeError) as exc:
                    log.warning("pipeline sample failed: %s", exc)
                    sample = Snapshot(datetime.now(UTC), error=str(exc))
                with self._lock:
                    self._snapshot = sample
                self._stop.wait(self.every_s)
        finally:
            for reader in readers.values():
                reader.close()

    def sample(self, readers: Mapping[str, Consumer]) -> Snapshot:
        any_reader = next(iter(readers.values()))
        topics = sorted(set(self.settings.topic_names.values()))
        metadata = any_reader.list_topics(timeout=_TIMEOUT_S).topics
        ends: dict[str, dict[int, int]] = {}
        for topic in topics:
            if topic not in metadata:
                continue
            ends[topic] = {
                p: any_reader.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S,
                                                    cached=False)[1]
                for p in metadata[topic].partitions
            }
        now = time.monotonic()
        rates = {}
        for topic, per_partition in ends.items():
            history = self._history.setdefault(topic, deque())
            history.append((now, sum(per_partition.values())))
            while history and now - history[0][0] > RATE_WINDOW_S:
                history.popleft()
            if len(history) >= 2:
                rates[topic] = rate(history)
        lags = []
        for group, role, topic in self.groups:
            partitions = [TopicPartition(topic, p) for p in ends.get(topic, {})]
            committed = {
                tp.partition: tp.offset
                for tp in readers[group].committed(partitions, timeout=_TIMEOUT_S)
                if tp.offset >= 0
            } if partitions else {}
            topic_ends = ends.get(topic, {})
            lags.append(Lag(group, role, topic, sum(topic_ends.values()),
                            sum(committed.values()) if committed else None,
                            lag_of(topic_ends, committed)))
        return Snapshot(datetime.now(UTC), {t: sum(e.values()) for t, e in ends.items()},
                        lags, rates)
