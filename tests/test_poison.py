"""Poison and oversized messages on every input topic of the running services (issue 12, 1-3).

A 1 MiB message (a dead letter copying it whole in base64 used to exceed the
broker's 1 MB limit, so the send raised and the consumer died at every
restart) and a few malformed ones go on each topic a service consumes. Every
service keeps running, each input lands in exactly one dead letter (stage and
source topic), the oversized one as a bounded copy with its full length and
SHA-256, and forecasts keep flowing after it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter

import pytest

from core.kafka import make_producer
from forwarding.service import AlertForwarder, Webhook
from producers.service import run as run_producer
from schemas.dead_letter import KEPT_BYTES, DeadLetter
from schemas.forecast import Forecast
from tests.helpers import ServiceProcess, ServiceThread
from tests.http_stub import http_stub
from ui.feed import FleetFeed

pytestmark = [pytest.mark.broker, pytest.mark.slow]
__all__ = ["http_stub"]  # the fixture

BIG = b'{"server_id": "' + b"a" * (1 << 20) + b'"}'  # 1 MiB and a bit: over librdkafka's 1 MB
MALFORMED = [b"\x00\xffnot json", b"{}", b"null", b'{"schema_version": 2, "command": 7}']
POISON = [BIG, *MALFORMED]


def _letters(messages) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(m.value()) for m in messages]


def _forecasts(messages) -> list[Forecast]:
    """The real forecasts among ``messages`` (the poison put on the topic is skipped)."""
    decoded = []
    for message in messages:
        try:
            decoded.append(Forecast.model_validate_json(message.value()))
        except ValueError:
            continue
    return decoded


def test_every_consumer_dead_letters_poison_and_oversized_messages_and_keeps_running(
    make_settings, read_topic, http_stub, tmp_path
):
    config = make_settings(servers=2, speed=60, backfill_hours=0.5, control_burst=10_000,
                           batch_deadline_ms=50)
    dead = read_topic(config, config.topic_deadletter)
    forecasts = read_topic(config, config.topic_forecasts)
    webhook = http_stub([(200, b"ok")])
    process = ServiceProcess(config, "process", log_path=str(tmp_path / "process.log"))
    infer = ServiceProcess(config, "infer", log_path=str(tmp_path / "infer.log"))
    producer_service = ServiceThread(lambda stop: run_producer(config, stop))
    forwarder = AlertForwarder(config, Webhook(webhook.base + "/hook"),
                               group_id=f"forward-{uuid.uuid4().hex[:8]}")
    forwarder_service = ServiceThread(forwarder.run)
    feed = FleetFeed(config).start()
    try:
        forecasts.wait_for(lambda ms: len(ms) > 0, timeout_s=120)  # the pipeline is flowing
        producer = make_producer(config, **{"message.max.bytes": 4_000_000})
        inputs = {  # topic -> the stage that must dead-letter what lands there
            config.topic_metrics: "process",
            config.topic_windows: "infer",
            config.topic_control: "produce",
            config.topic_alerts: "forward_webhook",
            config.topic_forecasts: None,  # only the read model reads it: counted, not lettered
            config.topic_scenarios: None,  # the same
        }
        for topic in inputs:
            for value in POISON:
                producer.produce(topic, key=b"ppdb001" if value is BIG else None, value=value)
        assert producer.flush(30) == 0, "the broker took the 1 MiB messages"
        seen_before = len(_forecasts(forecasts.messages))

        wanted = Counter({(stage, topic): len(POISON) for topic, stage in inputs.items() if stage})

        def got(messages) -> Counter[tuple[str, str]]:
            return Counter((d.stage, d.source_topic) for d in _letters(messages))

        dead.wait_for(lambda ms: not (wanted - got(ms)), timeout_s=90)
        forecasts.wait_for(lambda ms: len(_forecasts(ms)) > seen_before + 2, timeout_s=90)
        dead.poll(2.0)
        assert got(dead.messages) == wanted, "one dead letter per poison input, no more"

        for letter in _letters(dead.messages):
            if letter.payload_bytes == len(BIG):
                assert letter.payload_truncated and len(letter.payload()) == KEPT_BYTES
                assert letter.payload() == BIG[:KEPT_BYTES]
                assert letter.payload_sha256 == hashlib.sha256(BIG).hexdigest()
            else:
                assert not letter.payload_truncated and letter.payload() in MALFORMED
        assert max(len(m.value()) for m in dead.messages) < 100_000, "bounded: fits any broker"
        # The read model (API and dashboard) skipped the poison on its three topics.
        assert feed.running and feed.undecodable >= 3 * len(POISON)
        assert process.alive(), "the Faust worker survived"
        assert infer.alive(), "the inference worker survived"
        assert forwarder_service.thread.is_alive() and forwarder_service.error is None
        assert producer_service.thread.is_alive() and producer_service.error is None
    finally:
        feed.stop()
        forwarder_service.shut_down()
        producer_service.shut_down()
        infer.stop()
        process.stop()
    assert infer.process.returncode == 0 and process.process.returncode == 0


def test_a_dead_letter_the_client_refuses_is_counted_and_not_fatal(settings):
    from core import telemetry
    from core.kafka import dead_letter

    # A producer whose message limit is below any dead letter: the send is refused.
    producer = make_producer(settings, **{"message.max.bytes": 1000})
    counter = telemetry.DEAD_LETTER_FAILURES.labels("test", "somewhere")
    before = counter._value.get()
    letter = dead_letter(settings, producer, stage="test", reason="r" * 1500,
                         source_topic="somewhere", value=b"x" * 5000)
    assert counter._value.get() == before + 1
    assert letter.payload_bytes == 5000
