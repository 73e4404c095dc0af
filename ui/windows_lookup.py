"""Fetch one server's context window from the windows topic, on demand.

The UI does not follow the windows topic (at 1,000 servers it carries several
MB/s): when the model-insight view needs the 24 h context behind a forecast,
it reads the few seconds of the topic around the forecast's issue time, keeps
the messages keyed by the server and decodes only those.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from core.kafka import make_consumer
from core.settings import Settings
from schemas.context_window import ContextWindow

_TIMEOUT_S = 5.0
#: How far before the forecast's issue time to look, widened step by step.
LOOKBACKS = (timedelta(seconds=5), timedelta(minutes=1), timedelta(minutes=15))
MAX_MESSAGES_PER_PARTITION = 20_000


def find_window(
    settings: Settings, server_id: str, end: datetime, issued_at: datetime
) -> ContextWindow | None:
    """The server's window that ends at ``end`` (its forecast's start), or the newest one
    before it, published before ``issued_at``; None if none is found."""
    consumer = make_consumer(settings, f"fleetcast-ui-lookup-{uuid.uuid4().hex[:8]}")
    try:
        for lookback in LOOKBACKS:
            found = _scan(consumer, settings.topic_windows, server_id.encode(), end,
                          (issued_at - lookback, issued_at + timedelta(seconds=5)))
            if found is not None:
                return found
        return None
    finally:
        consumer.close()


def _scan(consumer: Consumer, topic: str, key: bytes, end: datetime,
          between: tuple[datetime, datetime]) -> ContextWindow | None:
    since, until = between
    metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic]
    since_ms, until_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    wanted = [TopicPartition(topic, p, since_ms) for p in sorted(metadata.partitions)]
    starts = [tp for tp in consumer.offsets_for_times(wanted, timeout=_TIMEOUT_S)
              if tp.offset not in (-1, OFFSET_END)]
    best: ContextWindow | None = None
    for start in starts:
        _, high = consumer.get_watermark_offsets(start, timeout=_TIMEOUT_S)
        consumer.assign([start])
        read, past = 0, False
        while not past and start.offset + read < high and read < MAX_MESSAGES_PER_PARTITION:
            batch = consumer.consume(num_messages=500, timeout=1.0)
            if not batch:
                break
            read += len(batch)
            for message in batch:
                if message.error() is not None:
                    continue
                if message.timestamp()[1] > until_ms:
                    past = True
                    break
                if message.key() != key:
                    continue
                window = ContextWindow.model_validate_json(message.value() or b"")
                if window.end <= end and (best is None or window.end > best.end):
                    best = window
        if best is not None and best.end == end:
            return best
    return best
