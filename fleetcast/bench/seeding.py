"""The stack benches' backfill: every server's closed history, written before the stack starts.

The producer's own backfill sends every minute of the last ``backfill_hours`` through the
stream processor, which closes a step, and publishes a window, every five simulated minutes
of it: 24 h is 288 windows per server, 2.88 million at 10,000 servers (14.4 million metric
events first), each forecast by the TFT unless a newer one of the same server shares its
batch. On this 2-core machine that is hours before the first live step. So the benches
write what that backfill leaves behind instead: each server's 5-minute means over the last
``hours`` (at most the 24 h context), from the producer's simulator and seed, straight to
the changelog of the stream processor's table, which the Faust app recovers at start. The
producer then runs live from the wall clock with no backfill of its own, and the first
live step of every server closes a window with full context.

What differs from the producer's backfill: the live simulator starts afresh (its noise and
its minute within the current step), so the current step holds only the minutes produced
after start-up and the series jumps by one noise draw there; nothing downstream depends on
that for timing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import numpy as np
from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from core.kafka import make_admin, make_producer
from core.settings import Settings
from producers.fleet import default_fleet
from producers.normal_levels import DECIMALS
from producers.simulator import FleetSimulator
from schemas.common import METRICS
from schemas.topics import TOPIC_BY_ROLE
from stream_processors.tables import changelog_topic
from stream_processors.windowing import seeded_state

_MINUTE_S: Final = 60
_SCALE: Final = 10.0**DECIMALS  # the producer's events carry values rounded this way
_FLUSH_S: Final = 120.0


def step_means(server_ids: Sequence[str], seed: int, first_step: int, steps: int,
               step_seconds: int) -> np.ndarray:
    """The simulator's per-step means, ``(servers, metrics, steps)``, of its minute values
    (rounded as its events are) over ``steps`` steps from step index ``first_step``."""
    start = first_step * step_seconds
    simulator = FleetSimulator(server_ids, seed=seed, start=datetime.fromtimestamp(start, UTC))
    per_step = step_seconds // _MINUTE_S
    means = np.empty((len(server_ids), len(METRICS), steps))
    for k in range(steps):
        total = np.zeros((len(server_ids), len(METRICS)))
        for minute in range(per_step):
            at = datetime.fromtimestamp(start + k * step_seconds + minute * _MINUTE_S, UTC)
            total += np.round(simulator.values_at(at) * _SCALE) / _SCALE
        means[:, :, k] = total / per_step
    return means


def history_steps(settings: Settings, hours: float) -> int:
    return min(settings.context_steps, round(hours * 3600 / settings.step_seconds))


def _create_topic(settings: Settings, name: str, partitions: int,
                  config: dict[str, str] | None = None) -> None:
    admin = make_admin(settings)  # held: its futures resolve only while it lives
    future = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})]
    )[name]
    try:
        future.result(timeout=30)
    except KafkaException as exc:
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def metrics_partitions(settings: Settings, keys: Sequence[bytes]) -> dict[bytes, int]:
    """The metrics partition each key lands on, asked of the producer's own client.

    Faust keeps a key's state in the changelog partition of the metrics partition its events
    come from, and the producer's client chooses that partition: sending each key once to a
    scratch topic of the same partition count reads the choice back exactly, whatever the
    partitioner.
    """
    probe = f"{settings.topic_metrics}.bench-partition-probe"
    _create_topic(settings, probe, TOPIC_BY_ROLE["metrics"].partitions)
    producer = make_producer(settings)
    found: dict[bytes, int] = {}

    def delivered(error: object, message: object) -> None:
        if error is None:
            found[message.key()] = message.partition()  # type: ignore[attr-defined]

    for key in keys:
        producer.produce(probe, key=key, value=b"", on_delivery=delivered)
        producer.poll(0)
    producer.flush(_FLUSH_S)
    if len(found) != len(keys):
        raise RuntimeError(f"partition probe: {len(found)} of {len(keys)} keys delivered")
    return found


def seed_history(settings: Settings, hours: float, now: float | None = None) -> int:
    """Write ``hours`` of closed history for every server of ``settings.servers`` to the
    stream processor's changelog, through the step before the current one; returns the
    servers written (0 when ``hours`` covers no step). Call before the Faust app starts."""
    steps = history_steps(settings, hours)
    if steps < 1:
        return 0
    step_s = settings.step_seconds
    last_closed = math.floor((now if now is not None else time.time()) / step_s) - 1
    server_ids = default_fleet(settings.servers)
    means = step_means(server_ids, settings.seed, last_closed - steps + 1, steps, step_s)
    keys = [sid.encode() for sid in server_ids]
    partitions = metrics_partitions(settings, keys)
    topic = changelog_topic(settings)
    _create_topic(settings, topic, TOPIC_BY_ROLE["metrics"].partitions,
                  {"cleanup.policy": "compact"})
    # One record per batch: the embedded broker advances a partition's high watermark by one
    # per batch, and Faust's recovery reads a changelog only up to its high watermark.
    producer = make_producer(settings, **{"batch.num.messages": 1, "linger.ms": 0})
    counts = [step_s // _MINUTE_S] * steps
    # The last event of the history: its last step's last minute.
    watermark = float((last_closed + 1) * step_s - _MINUTE_S)
    for row, (sid, key) in enumerate(zip(server_ids, keys, strict=True)):
        history = {name: means[row, m].tolist() for m, name in enumerate(METRICS)}
        state = seeded_state(sid, history, list(counts), last_closed, watermark)
        producer.produce(topic, key=json.dumps(sid).encode(), value=json.dumps(state).encode(),
                         partition=partitions[key])
        producer.poll(0)
    unsent = producer.flush(_FLUSH_S)
    if unsent:
        raise RuntimeError(f"{unsent} seeded states not delivered to {topic}")
    return len(server_ids)
