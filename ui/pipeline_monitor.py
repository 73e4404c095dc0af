"""Pipeline health from the cluster itself: end offsets, committed offsets, lag and rates.

A ``PipelineMonitor`` samples every few seconds, in one thread per process,
the high watermark of every catalogue topic and the committed offsets of the
pipeline's consumer groups (the stream processor's on the metrics topic, the
inference worker's on the windows topic). Lag is end minus committed, summed
over partitions; a rate is the growth of a topic's end offsets over the last
samples. The arithmetic is in pure functions, tested without Kafka.

It also tells when a stage has stopped (``StageHealth``): its input topic
grew but neither its output topic grew nor its group caught up for longer
than two steps of the pipeline's clock (``stall_after_s``), for example
windows arriving and no forecasts. The API's ``/health`` says ``degraded``
and names the stage then.
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


@dataclass(frozen=True)
class StageSpec:
    stage: str  # as in telemetry: process, infer
    group: str  # its consumer group
    role: str  # what it is: stream processor, inference worker
    input_topic: str
    output_topic: str


@dataclass(frozen=True)
class Progress:
    """A stage's topics at one sample and since when its input waits for output."""

    input_end: int
    output_end: int
    #: Monotonic time its input first grew with no output since; None: nothing waits.
    waiting_since: float | None = None


@dataclass(frozen=True)
class StageHealth:
    stage: str
    role: str
    input_topic: str
    output_topic: str
    waiting_s: float | None  # how long input has waited with no output; None: nothing waits
    stalled: bool  # waiting for longer than the stall limit


@dataclass
class Snapshot:
    sampled_at: datetime | None = None
    ends: dict[str, int] = field(default_factory=dict)
    lags: list[Lag] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)  # messages per second per topic
    error: str | None = None
    stages: list[StageHealth] = field(default_factory=list)


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


def progress(previous: Progress | None, input_end: int, output_end: int, caught_up: bool,
             now: float) -> Progress:
    """The stage's progress at ``now`` from the one before: its output growing or its group
    having committed all its input clears the wait; input growing without either starts it."""
    if previous is None or output_end > previous.output_end or caught_up:
        return Progress(input_end, output_end)
    waiting = previous.waiting_since
    if waiting is None and input_end > previous.input_end:
        waiting = now
    return Progress(input_end, output_end, waiting)


def stall_after_s(settings: Settings, every_s: float) -> float:
    """Two steps of the pipeline in real seconds (simulated time runs ``speed`` times faster),
    and never under three samples, so that one sample's timing cannot look like a stall."""
    return max(2 * settings.step_seconds / settings.speed, 3 * every_s)


def percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


class PipelineMonitor:
    """Samples the cluster in a background thread; ``snapshot()`` is the latest sample."""

    def __init__(self, settings: Settings, every_s: float = SAMPLE_EVERY_S) -> None:
        self.settings = settings
        self.every_s = every_s
        self.stall_after_s = stall_after_s(settings, every_s)
        self.stages = [
            StageSpec("process", settings.process_app_id, "stream processor",
                      settings.topic_metrics, settings.topic_windows),
            StageSpec("infer", settings.infer_group_id, "inference worker",
                      settings.topic_windows, settings.topic_forecasts),
        ]
        self._history: dict[str, deque[tuple[float, int]]] = {}
        self._progress: dict[str, Progress] = {}
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
        readers = {spec.group: make_consumer(self.settings, spec.group) for spec in self.stages}
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
        lags, stages = [], []
        totals = {t: sum(e.values()) for t, e in ends.items()}
        for spec in self.stages:
            topic = spec.input_topic
            partitions = [TopicPartition(topic, p) for p in ends.get(topic, {})]
            committed = {
                tp.partition: tp.offset
                for tp in readers[spec.group].committed(partitions, timeout=_TIMEOUT_S)
                if tp.offset >= 0
            } if partitions else {}
            topic_ends = ends.get(topic, {})
            lag = Lag(spec.group, spec.role, topic, sum(topic_ends.values()),
                      sum(committed.values()) if committed else None,
                      lag_of(topic_ends, committed))
            lags.append(lag)
            stages.append(self._stage_health(spec, totals, lag.lag == 0, now))
        return Snapshot(datetime.now(UTC), totals, lags, rates, stages=stages)

    def _stage_health(self, spec: StageSpec, totals: Mapping[str, int], caught_up: bool,
                      now: float) -> StageHealth:
        moved = progress(self._progress.get(spec.stage), totals.get(spec.input_topic, 0),
                         totals.get(spec.output_topic, 0), caught_up, now)
        self._progress[spec.stage] = moved
        waiting = None if moved.waiting_since is None else now - moved.waiting_since
        return StageHealth(spec.stage, spec.role, spec.input_topic, spec.output_topic, waiting,
                           waiting is not None and waiting > self.stall_after_s)
