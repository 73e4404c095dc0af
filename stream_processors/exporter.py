"""The windower watched by Prometheus: its stats' growth and the consumer lag, every second.

``ProcessStats`` (stats.py) stays the one place the agent counts; a timer moves
what it counted since the last tick into the shared counters of
core/telemetry.py, so the agent's hot path is unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any

import faust

from core.settings import Settings
from core.telemetry import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_CONSUMED,
    EVENTS_PRODUCED,
    Totals,
)
from stream_processors.stats import ProcessStats

EXPORT_EVERY_S = 1.0


class ProcessMetrics:
    def __init__(self, stage: str, settings: Settings) -> None:
        self._stage = stage
        self._topic = settings.topic_metrics
        self._totals = Totals()
        self._consumed = EVENTS_CONSUMED.labels(stage, settings.topic_metrics)
        self._windows = EVENTS_PRODUCED.labels(stage, settings.topic_windows)
        self._dead_letters = DEAD_LETTERS.labels(stage, settings.topic_metrics)

    async def export(self, stats: ProcessStats, consumer: Any) -> None:
        self._totals.sync(self._consumed, stats.consumed)
        self._totals.sync(self._windows, stats.windows)
        self._totals.sync(self._dead_letters, stats.dead_letters)
        for tp in consumer.assignment():
            if tp.topic != self._topic:
                continue
            with contextlib.suppress(Exception):  # mid-rebalance: next tick
                position = await consumer.position(tp)
                high = consumer.highwater(tp)
                if position is not None and high is not None:
                    CONSUMER_LAG.labels(self._stage, tp.topic, str(tp.partition)).set(
                        max(high - position, 0))


def register(app: faust.App, settings: Settings, stage: str, stats: ProcessStats) -> None:
    """Export ``stats`` (the agent's counters, the same object) every second."""
    metrics = ProcessMetrics(stage, settings)

    @app.timer(interval=EXPORT_EVERY_S)
    async def export_metrics() -> None:
        await metrics.export(stats, app.consumer)
