"""The windowing agent: metric events in, context windows (or dead letters) out.

Offsets are acknowledged by hand: an event is acked only once the state that
holds it has been written to the table's changelog (when one of the server's
steps closes), so a worker killed mid-step replays exactly the events its
changelog does not hold yet, and ``last_offset`` in the state skips the rest.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import faust
from faust.types import EventT, StreamT, TableT

from fleetcast.settings import Settings
from schemas.dead_letter import DeadLetter
from stream_processors.decoding import InputRejectedError, decode_metric_event
from stream_processors.stats import ProcessStats
from stream_processors.topics import Topics
from stream_processors.windowing import WindowConfig, add_event, new_state

log = logging.getLogger(__name__)
STAGE = "process"


def register(app: faust.App, settings: Settings, topics: Topics, table: TableT) -> None:
    config = WindowConfig(settings.step_seconds, settings.context_steps, settings.grace_seconds)
    max_skew = timedelta(days=settings.max_event_skew_days)
    stats = ProcessStats()
    app.fleetcast_stats = stats  # type: ignore[attr-defined]
    unacked: dict[str, list[EventT]] = {}

    async def reject(event: EventT, reason: str) -> None:
        message = event.message
        letter = DeadLetter.reject(
            stage=STAGE, reason=reason, source_topic=message.topic, value=message.value,
            key=message.key, partition=message.partition, offset=message.offset,
        )
        await topics.deadletter.send(value=letter.to_bytes())
        stats.dead_letters += 1
        log.warning("dead letter: topic=%s partition=%s offset=%s reason=%s",
                    message.topic, message.partition, message.offset, reason[:200])
        event.ack()

    async def handle(event: EventT) -> None:
        stats.consumed += 1
        message = event.message
        try:
            metric = decode_metric_event(message.key, message.value, max_skew=max_skew)
        except InputRejectedError as exc:
            await reject(event, str(exc))
            return
        server_id = metric.server_id
        state: dict[str, Any] | None = table.get(server_id)
        if state is None:
            state = new_state(server_id)
            table[server_id] = state  # the first sight of a server is written at once
        result = add_event(state, metric, config, offset=message.offset)
        if result.duplicate:
            stats.duplicates += 1
            event.ack()
            return
        if not result.accepted:
            await reject(event, result.reason or "rejected")
            return
        stats.accepted += 1
        unacked.setdefault(server_id, []).append(event)
        if result.window is None:
            return
        table[server_id] = state  # changelog write, only when a step closes
        await topics.windows.send(key=server_id.encode(), value=result.window.to_bytes())
        stats.windows += 1
        stats.steps_closed += result.closed_steps
        for held in unacked.pop(server_id, []):
            held.ack()

    @app.agent(topics.metrics, name="windower")
    async def windower(stream: StreamT[bytes]) -> None:
        # ``noack`` exists on every concrete stream; the StreamT protocol omits it.
        async for event in cast(faust.Stream[bytes], stream).noack().events():
            try:
                await handle(event)
            except Exception as exc:  # the worker never dies on one input
                log.exception("unexpected failure on offset %s", event.message.offset)
                await reject(event, f"internal error: {type(exc).__name__}: {exc}")

    @app.timer(interval=30.0)
    async def report() -> None:
        log.info("process stats %s at %s", stats.as_dict(), datetime.now(UTC).isoformat())
