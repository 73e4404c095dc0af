"""The clients an operator reaches for, on the embedded broker (issue 12, item 9).

Each produces alert-like records to its own topic and reads back, through a
consumer group, both its own records and one that fleetcast's producer wrote,
so a record crosses from one client library to another.

kcat: Debian's (librdkafka 2.0.2) cannot talk to Tansu. Tansu's ApiVersions v3
answer carries four tagged fields, and librdkafka before 2.2.0 skips tagged
fields one byte short (confluentinc/librdkafka#4278), so it misreads the answer:
"ApiVersionRequest failed: Local: Read underflow". No setting helps: with
``api.version.request=false`` it still asks for a fallback of 0.10 and later,
and a fallback of 0.9 gets as far as metadata and then misreads ListOffsets v0.
The same kcat runs with the librdkafka that confluent-kafka's wheel bundles
(README, "Reading alerts from your own tool"); both are tested here.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from core.kafka import make_producer
from core.settings import Settings

pytestmark = pytest.mark.broker

KCAT = shutil.which("kcat")
#: librdkafka skips tagged fields correctly from this release on (confluentinc/librdkafka#4278).
TAGS_FIXED = (2, 2, 0)
#: Tansu answers a JoinGroup after about half the session timeout; 6 s keeps it at 3 s.
SESSION_MS = 6_000
WAIT_S = 30


def records(n: int) -> list[tuple[bytes, bytes]]:
    return [(f"ppweb{i:03d}".encode(), json.dumps({"alert_id": f"a-{i}"}).encode())
            for i in range(1, n + 1)]


def seed(settings: Settings) -> tuple[bytes, bytes]:
    """One record written by fleetcast's own producer, for the client under test to read."""
    key, value = b"ppdb001", b'{"alert_id": "from-fleetcast"}'
    producer = make_producer(settings)
    producer.produce(settings.topic_alerts, key=key, value=value)
    assert producer.flush(10) == 0
    return key, value


def group() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def test_kafka_python_produces_and_consumes(settings: Settings) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    topic, mine = settings.topic_alerts, records(3)
    theirs = seed(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    for key, value in mine:
        producer.send(topic, key=key, value=value).get(timeout=10)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                             group_id=group(), auto_offset_reset="earliest",
                             session_timeout_ms=SESSION_MS, consumer_timeout_ms=WAIT_S * 1000)
    got: list[tuple[bytes, bytes]] = []
    for message in consumer:
        got.append((message.key, message.value))
        if len(got) == 4:
            break
    consumer.close()
    assert sorted(got) == sorted([theirs, *mine])


def test_aiokafka_produces_and_consumes(settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topic, mine = settings.topic_alerts, records(3)
    theirs = seed(settings)

    async def run() -> list[tuple[bytes, bytes]]:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            for key, value in mine:
                await producer.send_and_wait(topic, value, key=key)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap_servers,
                                    group_id=group(), auto_offset_reset="earliest",
                                    session_timeout_ms=SESSION_MS)
        await consumer.start()
        got: list[tuple[bytes, bytes]] = []
        try:
            async with asyncio.timeout(WAIT_S):
                async for message in consumer:
                    got.append((message.key or b"", message.value or b""))
                    if len(got) == 4:
                        break
        finally:
            await consumer.stop()
        return got

    assert sorted(asyncio.run(run())) == sorted([theirs, *mine])


def test_confluent_kafka_as_the_readme_shows_it(settings: Settings) -> None:
    """README's consumer, as configured there, plus a confluent producer."""
    from confluent_kafka import Consumer, Producer

    topic, mine = settings.topic_alerts, records(3)
    theirs = seed(settings)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for key, value in mine:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": group(), "auto.offset.reset": "earliest",
                         "session.timeout.ms": SESSION_MS})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    try:
        for _ in range(int(WAIT_S / 0.5)):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                got.append((message.key() or b"", message.value() or b""))
            if len(got) == 4:
                break
    finally:
        consumer.close()
    assert sorted(got) == sorted([theirs, *mine])


# -- kcat -------------------------------------------------------------------------------------


def bundled_librdkafka() -> Path:
    """The librdkafka inside confluent-kafka's wheel, the path README's kcat command finds."""
    import confluent_kafka

    [library] = (Path(confluent_kafka.__file__).parent.parent / "confluent_kafka.libs").glob(
        "librdkafka*.so.1")
    return library


def librdkafka_version(env: dict[str, str] | None = None) -> tuple[int, ...]:
    assert KCAT is not None
    out = subprocess.run([KCAT, "-V"], check=False, capture_output=True, text=True, env=env,
                         timeout=10)
    found = re.search(r"librdkafka ([\d.]+)", out.stdout + out.stderr)
    assert found, out.stdout + out.stderr
    return tuple(int(part) for part in found.group(1).split("."))


def kcat(bootstrap: str, *args: str, stdin: str = "", preload: Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    assert KCAT is not None
    env = {"PATH": "/usr/bin:/bin", **({"LD_PRELOAD": str(preload)} if preload else {})}
    return subprocess.run([KCAT, "-b", bootstrap, *args], check=False, input=stdin,
                          capture_output=True, text=True, env=env, timeout=WAIT_S)


def kcat_round_trip(settings: Settings, preload: Path | None) -> None:
    """Produce two keyed records with kcat, then read them and fleetcast's back with kcat."""
    bootstrap, topic = settings.kafka_bootstrap_servers, settings.topic_alerts
    theirs = seed(settings)
    mine = records(2)
    lines = "".join(f"{k.decode()}\t{v.decode()}\n" for k, v in mine)
    produced = kcat(bootstrap, "-P", "-t", topic, "-K", "\t", stdin=lines, preload=preload)
    assert produced.returncode == 0, produced.stderr
    consumed = kcat(bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                    "-f", "%k\t%s\n", preload=preload)
    assert consumed.returncode == 0, consumed.stderr
    got = [tuple(line.encode().split(b"\t", 1)) for line in consumed.stdout.splitlines()]
    assert sorted(got) == sorted([theirs, *mine])


needs_kcat = pytest.mark.skipif(KCAT is None, reason="kcat not installed (make test installs "
                                "Debian's kcat)")


@needs_kcat
def test_debian_kcat_fails_on_the_handshake_while_its_librdkafka_misreads_tags(
    settings: Settings,
) -> None:
    if librdkafka_version() >= TAGS_FIXED:  # a fixed Debian librdkafka: then it must just work
        kcat_round_trip(settings, preload=None)
        return
    listed = kcat(settings.kafka_bootstrap_servers, "-L", "-m", "3")
    assert listed.returncode != 0
    assert "ApiVersionRequest failed: Local: Read underflow" in listed.stderr
    # No setting gets it past the handshake either (README says so).
    fallback = kcat(settings.kafka_bootstrap_servers, "-L", "-m", "3",
                    "-X", "api.version.request=false", "-X", "broker.version.fallback=2.0.0")
    assert fallback.returncode != 0
    assert "ApiVersionRequest failed: Local: Read underflow" in fallback.stderr


@needs_kcat
def test_kcat_with_the_bundled_librdkafka_produces_and_consumes(settings: Settings) -> None:
    library = bundled_librdkafka()
    assert librdkafka_version({"LD_PRELOAD": str(library)}) >= TAGS_FIXED
    kcat_round_trip(settings, preload=library)
