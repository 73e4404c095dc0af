"""Where a restarted simulator continues: read back from the metrics topic what it published.

The stream processor keeps each server's state at the newest event it saw,
and at ``speed`` > 1 that is simulated hours ahead of the wall clock. A
producer that restarted from the wall clock would send hours of events the
processor has already closed: every one dead-lettered as late, the fleet
blind until the new clock caught up. So at start-up the producer reads the
tail of each partition of the metrics topic, takes each of its servers'
newest minute there, and continues after it: the first minutes are sent only
for the servers that miss them (what a crash left undelivered), no minute is
sent twice, and the backfill never covers what is already there.

The topic itself is the record, not a checkpoint beside it: what matters is
what the processor can have seen, and a checkpoint written after the events
could lag behind them (minutes sent twice, dead-lettered) or run ahead (minutes
lost). ``read_published`` does the I/O; ``trusted_newest`` and ``plan_start``
are pure. The scenarios in force come back from the scenarios topic, where the
simulator records what it applied (``read_scenarios``).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import ValidationError

from core.kafka import make_consumer, read_partitions
from core.settings import Settings
from schemas.metric_event import MetricEvent
from schemas.scenario_state import ScenarioState

log = logging.getLogger(__name__)

MINUTE: Final = timedelta(minutes=1)
#: How far back the tail is read, in minutes of the whole fleet's events: a server
#: of the fleet not seen in its last hour of events counts as never published
#: (it is new to the fleet) rather than making every start-up read the whole topic.
TAIL_MINUTES: Final = 60
#: How far a server may be ahead of the rest of the fleet's newest minute. The simulator
#: moves its fleet together (after a crash its servers differ by the minutes one
#: partition's delivery lagged another's), so a day ahead is no doing of its own.
OUTLIER: Final = timedelta(days=1)
_TIMEOUT_S: Final = 10.0
#: The whole read-back. Past it with the newest chunk unread the start-up fails (and
#: ``fleetcast up`` retries) rather than guess where to continue; deeper down the
#: read stops there.
_READ_DEADLINE_S: Final = 60.0


@dataclass(frozen=True)
class StartPlan:
    """Where the simulator starts and what of its first minutes is already on the topic.

    ``first`` is the simulator's first minute; every minute from it through
    ``backfill_through`` is produced at once, and the live clock runs from
    ``clock_start``. ``published`` holds each server's newest minute already on
    the topic (empty on a fresh start); ``newest`` is the latest of them, and
    servers of the fleet not in ``published`` get nothing up to it either.
    """

    first: datetime
    backfill_through: datetime
    clock_start: datetime
    published: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def resumed(self) -> bool:
        return bool(self.published)

    @property
    def newest(self) -> datetime | None:
        return max(self.published.values()) if self.published else None

    @property
    def backfill_minutes(self) -> int:
        return max(0, (self.backfill_through - self.first) // MINUTE + 1)

    def unpublished(self, events: list[MetricEvent]) -> list[MetricEvent]:
        """``events`` less those for a minute their server already has on the topic."""
        newest = self.newest
        if newest is None or not events or events[0].timestamp > newest:
            return events  # past the resume point: every event is new
        return [e for e in events if e.timestamp > self.published.get(e.server_id, newest)]


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def plan_start(now: datetime, backfill_minutes: int, published: Mapping[str, datetime]
               ) -> StartPlan:
    """The start for a simulator at wall-clock ``now`` given what is ``published`` already.

    Fresh (nothing published): the last ``backfill_minutes`` minutes up to and
    including the current one, then live from ``now``. Resumed: the simulated
    clock continues one minute after the newest published minute, or at ``now``
    if that is later (a producer at speed 1, or down for a while: the minutes in
    between are produced at once, at most ``backfill_minutes`` of them); the
    first minutes start after the server that is furthest behind.
    """
    if not published:
        current = _minute(now)
        return StartPlan(first=current - (backfill_minutes - 1) * MINUTE,
                         backfill_through=current, clock_start=now)
    minutes = {sid: _minute(t) for sid, t in published.items()}
    newest = max(minutes.values())
    clock_start = max(now, newest + MINUTE)
    through = _minute(clock_start)
    # A gap longer than the backfill is not filled in: no more history than a fresh start.
    earliest = through - max(backfill_minutes - 1, 0) * MINUTE
    first = max(min(minutes.values()) + MINUTE, earliest)
    return StartPlan(first=first, backfill_through=through, clock_start=clock_start,
                     published=minutes)


def trusted_newest(times: Mapping[str, Sequence[datetime]], now: datetime,
                   tolerance: timedelta) -> dict[str, datetime]:
    """Each server's newest time, leaving out dates that jump ahead as a forgery does.

    Anyone may write to the metrics topic: one event for one server dated a
    year ahead (which the stream processor refuses) must not make the
    simulator jump a year. As the processor does (``check_not_ahead``), a time
    counts only if it is at most ``tolerance`` past both the wall clock ``now``
    and the server's previous time; the simulator's own minutes follow each
    other. A server whose times all lie more than ``OUTLIER`` beyond the rest
    of the fleet's (its tail is nothing but a forgery) is left out.
    """
    newest: dict[str, datetime] = {}
    for sid, ts in times.items():
        chain = sorted(ts)
        if not chain:
            continue
        last = chain[0]
        for t in chain[1:]:
            if t > max(now, last) + tolerance:
                break  # and every later time is further ahead still
            last = t
        newest[sid] = last
    if not newest:
        return {}
    limit = statistics.median_low(newest.values()) + OUTLIER
    return {sid: t for sid, t in newest.items() if t <= limit}


def read_published(settings: Settings, server_ids: Collection[str]
                   ) -> dict[str, list[datetime]]:
    """The event times of ``server_ids`` in the tail of the metrics topic, by server.

    Each partition is read backwards in growing chunks from its end until
    every server was seen, the partitions' starts are reached or about
    ``TAIL_MINUTES`` of the fleet's events were read. Messages that are not a
    valid metric event of the fleet are skipped (the stream processor
    dead-letters them).
    """
    topic = settings.topic_metrics
    wanted = {sid.encode(): sid for sid in server_ids}
    consumer = make_consumer(settings, f"fleetcast-resume-{uuid.uuid4().hex}")
    try:
        bounds = _bounds(consumer, topic)
    finally:
        consumer.close()
    times: dict[str, list[datetime]] = defaultdict(list)
    starts = {p: low for p, (low, _) in bounds.items()}
    ends = {p: high for p, (_, high) in bounds.items()}
    budget = TAIL_MINUTES * len(wanted)
    chunk = max(100, math.ceil(2 * len(wanted) / max(len(ends), 1)))
    deadline = time.monotonic() + _READ_DEADLINE_S
    # The first chunk of each partition runs to its end, whatever the high
    # watermark said: Tansu reports the last batch's first offset + 1, so
    # the newest events of a batch lie past it.
    ranges: dict[int, tuple[int, int | None]] = {
        p: (max(starts[p], end - chunk), None) for p, end in ends.items() if end > starts[p]}
    top = True
    while ranges and budget > 0:
        try:
            for message in read_partitions(
                    settings, topic, {p: hi for p, (_, hi) in ranges.items()},
                    starts={p: lo for p, (lo, _) in ranges.items()},
                    timeout_s=max(deadline - time.monotonic(), 0.1)):
                budget -= 1
                found = _event_time(message, wanted)
                if found is not None:
                    times[found[0]].append(found[1])
        except TimeoutError:
            if top:
                raise  # the newest events unread: no safe place to continue from
            # Deeper down it is safe to stop: servers not seen get nothing up to
            # the newest minute (``StartPlan.unpublished``).
            log.warning("read back %s for %g s; %d of %d servers seen, the rest "
                        "count as new", topic, _READ_DEADLINE_S, len(times), len(wanted))
            break
        if len(times) == len(wanted):
            break
        top = False
        chunk *= 2
        ranges = {p: (max(starts[p], lo - chunk), lo) for p, (lo, _) in ranges.items()
                  if lo > starts[p]}
    return dict(times)


def read_scenarios(settings: Settings, server_ids: Collection[str]) -> dict[str, ScenarioState]:
    """Each of ``server_ids``' latest ``applied`` record on the scenarios topic.

    What a resumed simulator restores (``FleetSimulator.restore``): the topic is
    compacted and keyed by server, so it stays about a record per server however
    long the stack runs. Records that do not parse are skipped.
    """
    topic = settings.topic_scenarios
    wanted = set(server_ids)
    latest: dict[str, ScenarioState] = {}
    consumer = make_consumer(settings, f"fleetcast-resume-{uuid.uuid4().hex}")
    try:
        ends: dict[int, int | None] = {
            p: None for p, (low, high) in _bounds(consumer, topic).items() if high > low}
    finally:
        consumer.close()
    messages = list(read_partitions(settings, topic, ends, timeout_s=_READ_DEADLINE_S))
    for message in sorted(messages, key=lambda m: (m.partition() or 0, m.offset() or 0)):
        try:
            record = ScenarioState.model_validate_json(message.value() or b"")
        except ValidationError:
            continue
        if record.outcome == "applied" and record.server_id in wanted:
            latest[record.server_id] = record
    return latest


def _bounds(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """Each partition's low and high watermarks (Tansu's high one may fall short of the end)."""
    metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S)
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S,
                                              cached=False)
            for p in sorted(metadata.topics[topic].partitions)}


def _event_time(message: Message, wanted: Mapping[bytes, str]) -> tuple[str, datetime] | None:
    """The server and time of a valid metric event of the fleet; None for anything else."""
    sid = wanted.get(message.key() or b"")
    if sid is None:
        return None
    try:
        event = MetricEvent.model_validate_json(message.value() or b"")
    except ValidationError:
        return None
    return (sid, event.timestamp) if event.server_id == sid else None
