"""The windowing agent: metric events in, context windows (or dead letters) out.

Offsets are acknowledged by hand: an event is acked only once the state that
holds it has been written to the table's changelog (when one of the server's
steps closes), so a worker killed mid-step replays exactly the events its
changelog does not hold yet, and ``last_offset`` in the state skips the rest.

Every consumed event ends in exactly one of: a published window, a dead
letter (with the reason and its bytes), a duplicate replay skipped, an open
step still waiting, or an evicted server's open step; ``ProcessStats`` counts
each, so the books balance (tests/stream_processors/test_accounting.py).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TableT

from core import telemetry
from core.settings import Settings
from core.tracking import Admission, ServerTracker
from schemas.dead_letter import DeadLetter
from stream_processors.decoding import (
    InputRejectedError,
    check_not_ahead,
    decode_metric_event,
)
from stream_processors.stats import ProcessStats
from stream_processors.topics import Topics
from stream_processors.windowing import WindowConfig, add_event, new_state, pending_events

log = logging.getLogger(__name__)
STAGE = "process"


class Windower:
    """One worker's handling of metric events; the Faust agent feeds it one event at a time."""

    def __init__(
        self, settings: Settings, topics: Topics, table: TableT, stats: ProcessStats | None = None
    ) -> None:
        self.config = WindowConfig(
            settings.step_seconds, settings.context_steps, settings.grace_seconds
        )
        self.max_skew = timedelta(days=settings.max_event_skew_days)
        self.max_ahead = timedelta(seconds=settings.max_future_skew_s)
        self.stats = stats if stats is not None else ProcessStats()
        self.tracker = ServerTracker(settings.max_tracked_servers, settings.evict_silent_after_s)
        self._topics = topics
        self._table = table
        self._unacked: dict[str, list[EventT]] = {}
        self._seeded = False

    async def handle(self, event: EventT) -> None:
        self.stats.consumed += 1
        message = event.message
        try:
            metric = decode_metric_event(message.key, message.value, max_skew=self.max_skew)
        except InputRejectedError as exc:
            await self.reject(event, str(exc))
            return
        server_id = metric.server_id
        state: dict[str, Any] | None = self._table.get(server_id)
        try:  # before admission: a forged date must not take a tracked-server slot either
            check_not_ahead(metric, state["watermark"] if state else None, datetime.now(UTC),
                            self.max_ahead)
        except InputRejectedError as exc:
            await self.reject(event, str(exc))
            return
        if state is None:
            admission = self._admit(server_id)
            if not admission.admitted:
                await self.reject(event, admission.reason or "server not tracked")
                return
            state = new_state(server_id)
            self._table[server_id] = state  # the first sight of a server is written at once
        self.tracker.heard(server_id, time.monotonic())
        result = add_event(state, metric, self.config, offset=message.offset)
        if result.duplicate:
            self.stats.duplicates += 1
            event.ack()
            return
        if not result.accepted:
            await self.reject(event, result.reason or "rejected")
            return
        self.stats.accepted += 1
        self._unacked.setdefault(server_id, []).append(event)
        if result.window is None:
            return
        self._table[server_id] = state  # changelog write, only when a step closes
        await self._topics.windows.send(key=server_id.encode(), value=result.window.to_bytes())
        self.stats.windows += 1
        self.stats.steps_closed += result.closed_steps
        self.stats.windowed_events += result.events_in_closed
        for held in self._unacked.pop(server_id, []):
            held.ack()

    async def reject(self, event: EventT, reason: str) -> None:
        message = event.message
        letter = DeadLetter.reject(
            stage=STAGE, reason=reason, source_topic=message.topic, value=message.value,
            key=message.key, partition=message.partition, offset=message.offset,
        )
        try:
            await self._topics.deadletter.send(value=letter.to_bytes())
        except Exception as exc:  # never fatal: the input is passed over, and counted
            telemetry.DEAD_LETTER_FAILURES.labels(STAGE, message.topic).inc()
            self.stats.dead_letter_failures += 1
            log.error("dead letter lost (%s: %s): topic=%s partition=%s offset=%s reason=%s",
                      type(exc).__name__, exc, message.topic, message.partition,
                      message.offset, reason[:200])
        else:
            log.warning("dead letter: topic=%s partition=%s offset=%s reason=%s",
                        message.topic, message.partition, message.offset, reason[:200])
        # Counted as a dead letter either way: the books balance on what was consumed.
        self.stats.dead_letters += 1
        event.ack()

    def _admit(self, server_id: str) -> Admission:
        """Make room for a new server at the cap by evicting a silent one, if any."""
        if not self._seeded:  # after a restart the table holds servers this process never heard
            self.tracker.seed(self._table.keys(), time.monotonic())
            self._seeded = True
        admission = self.tracker.admit(server_id, time.monotonic())
        if admission.evict is not None:
            self._evict(admission.evict)
        return admission

    def _evict(self, server_id: str) -> None:
        victim = self._table.get(server_id)
        if victim is not None:
            del self._table[server_id]  # a tombstone on the changelog: gone after a restart too
        self.tracker.forget(server_id)
        self.stats.evicted_servers += 1
        self.stats.evicted_events += pending_events(victim) if victim else 0
        for held in self._unacked.pop(server_id, []):
            held.ack()  # counted as evicted_events: accounted for, not silently lost
        log.info("evicted silent server %s at the cap of %d tracked servers",
                 server_id, self.tracker.cap)


def register(
    app: faust.App, settings: Settings, topics: Topics, table: TableT, stats: ProcessStats
) -> None:
    windower_state = Windower(settings, topics, table, stats)

    @app.agent(topics.metrics, name="windower")
    async def windower(stream: StreamT[bytes]) -> None:
        # ``noack`` exists on every concrete stream; the StreamT protocol omits it.
        async for event in cast(faust.Stream[bytes], stream).noack().events():
            try:
                await windower_state.handle(event)
            except Exception as exc:  # the worker never dies on one input
                log.exception("unexpected failure on offset %s", event.message.offset)
                await windower_state.reject(event, f"internal error: {type(exc).__name__}: {exc}")

    @app.timer(interval=30.0)
    async def report() -> None:
        log.info("process stats %s at %s", windower_state.stats.as_dict(),
                 datetime.now(UTC).isoformat())
