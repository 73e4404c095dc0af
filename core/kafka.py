"""confluent-kafka clients built from the settings, topic creation and the dead-letter send."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from core import telemetry
from core.settings import Settings
from schemas.dead_letter import DeadLetter
from schemas.topics import TOPICS

log = logging.getLogger(__name__)


def _base_conf(settings: Settings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "error_cb": _log_client_error,
        **settings.kafka_security(),
    }


def _log_client_error(error: KafkaError) -> None:
    """librdkafka reports connection trouble here; it keeps retrying by itself.

    "All brokers down" comes once per outage and is the line an operator
    needs; each failed reconnect attempt is a transport error, kept at debug.
    """
    if error.code() == KafkaError._ALL_BROKERS_DOWN:
        log.warning("Kafka unreachable (all brokers down); buffering and retrying: %s",
                    error.str())
    elif error.code() in (KafkaError._TRANSPORT, KafkaError._RESOLVE):
        log.debug("Kafka connection: %s", error.str())
    elif error.fatal():
        log.error("Kafka client error (fatal): %s", error.str())
    else:
        log.warning("Kafka client error: %s", error.str())


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    conf = {
        **_base_conf(settings),
        "linger.ms": 5,
        "acks": "all",
        # Buffer through a brief broker outage instead of failing at once.
        "message.timeout.ms": 120_000,
        "queue.buffering.max.messages": 200_000,
        **overrides,
    }
    return Producer(conf)


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    conf = {
        **_base_conf(settings),
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        # Tansu holds a JoinGroup for about half the session timeout before it
        # answers; 6 s (librdkafka's floor-friendly value) makes that 3 s.
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 1_000,
        **overrides,
    }
    return Consumer(conf)


def make_admin(settings: Settings) -> AdminClient:
    return AdminClient(_base_conf(settings))


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the catalogue's topics that do not exist yet; returns the ones created."""
    admin = make_admin(settings)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    # The embedded broker (Tansu) accepts cleanup.policy too; a state topic is read to its
    # end either way, so compaction only bounds how much there is to read.
    wanted = [
        NewTopic(settings.topic(spec.role), num_partitions=spec.partitions, replication_factor=1,
                 config={"cleanup.policy": "compact"} if spec.compacted else {})
        for spec in TOPICS
        if settings.topic(spec.role) not in existing
    ]
    created: list[str] = []
    for name, future in (admin.create_topics(wanted).items() if wanted else []):
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            # Another service may have created it a moment ago: that is fine.
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    if created:
        log.info("created topics %s", created)
    return created


def dead_letter(
    settings: Settings, producer: Producer, *, stage: str, reason: str, source_topic: str,
    value: bytes | None, key: bytes | None = None, partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """Publish a rejected input with its reason and a bounded copy of its bytes.

    Never fatal: a dead letter the client refuses (it cannot be too large any
    more, but the broker may be away or the topic gone) or one the broker
    never acknowledges is logged and counted in
    ``fleetcast_dead_letter_failures_total``, and the caller moves on past the
    input. Only ``BufferError`` (librdkafka's local queue is full) is raised, so
    that callers who wait for room (``produce_patiently``) can.
    """
    letter = DeadLetter.reject(
        stage=stage, reason=reason, source_topic=source_topic, value=value, key=key,
        partition=partition, offset=offset,
    )
    where = telemetry.fields(stage=stage, topic=source_topic, partition=partition, offset=offset)

    def delivered(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            _dead_letter_failed(stage, source_topic, f"not acknowledged: {error}", where)

    try:
        producer.produce(settings.topic_deadletter, value=letter.to_bytes(), on_delivery=delivered)
    except KafkaException as exc:
        _dead_letter_failed(stage, source_topic, f"refused by the client: {exc}", where)
        return letter
    log.warning("dead letter: %s reason=%s", where, reason[:200])
    return letter


def _dead_letter_failed(stage: str, source_topic: str, why: str, where: str) -> None:
    telemetry.DEAD_LETTER_FAILURES.labels(stage, source_topic).inc()
    log.error("dead letter lost (%s): %s; moving on past the input", why, where)


def dead_letter_message(
    settings: Settings, producer: Producer, message: Message, *, stage: str, reason: str
) -> DeadLetter:
    return dead_letter(
        settings, producer, stage=stage, reason=reason, source_topic=message.topic() or "",
        value=message.value(), key=message.key(), partition=message.partition(),
        offset=message.offset(),
    )


def read_partitions(
    settings: Settings, topic: str, ends: Mapping[int, int | None], *, timeout_s: float = 30.0,
    starts: Mapping[int, int] | None = None,
) -> Iterator[Message]:
    """The messages of ``topic``'s partitions ``ends``, in offset order per partition.

    Each partition is read from its offset in ``starts`` (its beginning where not
    given) up to its offset in ``ends`` (exclusive), or to its end as it is now
    where that is None. The end is where a fetch reports the
    partition exhausted (``enable.partition.eof``), not the high watermark that
    ``get_watermark_offsets`` gives: the embedded broker answers that one with
    the base offset of the last record batch plus one, short of a batch of many
    records. TimeoutError after ``timeout_s``, so a caller never takes a part
    of a partition for all of it.
    """
    first = dict(starts or {})
    pending = {p: end for p, end in ends.items() if end is None or end > first.get(p, 0)}
    if not pending:
        return
    consumer = make_consumer(settings, f"{topic}-reader", **{"enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, p, first.get(p, OFFSET_BEGINNING))
                         for p in pending])
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} partitions {sorted(pending)} not read to their end "
                                   f"within {timeout_s} s")
            for message in consumer.consume(num_messages=1_000, timeout=0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.pop(message.partition() or 0, None)  # at its end as it is now
                    elif error.fatal():
                        raise KafkaException(error)
                    else:
                        log.warning("reading %s: %s", topic, error)
                    continue
                partition, offset = message.partition(), message.offset()
                if partition not in pending or offset is None:
                    continue  # read to its end already: what follows is not asked for
                end = pending[partition]
                if end is not None and offset >= end:
                    del pending[partition]
                    continue
                yield message
                if end is not None and offset + 1 >= end:
                    del pending[partition]
    finally:
        consumer.close()


def drain(consumer: Consumer, timeout_s: float, max_messages: int = 1_000) -> Iterable[Message]:
    """Messages available within ``timeout_s``, errors logged and skipped."""
    for message in consumer.consume(num_messages=max_messages, timeout=timeout_s):
        if message.error():
            log.warning("consumer error: %s", message.error())
            continue
        yield message


def commit(consumer: Consumer) -> None:
    """Commit the consumer's positions synchronously; nothing consumed yet is not an error."""
    try:
        consumer.commit(asynchronous=False)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._NO_OFFSET:
            raise
