"""The forwarder: a consumer of ``fleetcast.alerts`` posting each event to one destination.

Events are handled one at a time in offset order. An event's offset is
committed only after it is delivered, or after delivery was given up and the
event went to the dead-letter topic with the reason (an undecodable event
goes there at once). Stopping while a delivery is being retried commits
nothing, so the event is delivered again after a restart (at least once).

A destination that keeps state (Alertmanager: the label sets still firing)
rebuilds it when the group hands the forwarder partitions, by replaying the
events it had already handled: each partition from its beginning up to the
group's committed offset. So after a restart a resolve ends the alert that
fired, and what is still open is re-sent at once. (An alert opened longer ago
than the topic's retention is not rebuilt; its resolve is sent as before,
under the resolve's own labels.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit

from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import ValidationError

from core import telemetry
from core.kafka import (
    dead_letter_message,
    ensure_topics,
    make_consumer,
    make_producer,
    read_partitions,
)
from core.runtime import stop_on_signals
from core.settings import Settings
from forwarding.delivery import Delivery, RetryPolicy, deliver
from forwarding.payloads import AlertmanagerMapper, encode, webhook_body
from schemas.alert import AlertEvent
from schemas.common import describe_validation_error

log = logging.getLogger(__name__)

Kind = Literal["webhook", "alertmanager"]
ALERTMANAGER_PATH: Final = "/api/v2/alerts"
#: Alertmanager times out alerts not re-sent within its resolve_timeout (5 min by default).
RESEND_EVERY_S: Final = 60.0
_FLUSH_TIMEOUT_S: Final = 10.0


class Destination(Protocol):
    kind: str
    url: str

    def body(self, alert: AlertEvent) -> bytes: ...

    def sent(self, alert: AlertEvent) -> None: ...

    def resend_body(self) -> bytes | None: ...

    def restore(self, handled: Iterable[AlertEvent]) -> int:
        """Forget all state, then take in events handled before (not sent again); how many."""
        ...


class Webhook:
    """POSTs each alert event's JSON as it is."""

    kind = "webhook"

    def __init__(self, url: str) -> None:
        self.url = url

    def body(self, alert: AlertEvent) -> bytes:
        return webhook_body(alert)

    def sent(self, alert: AlertEvent) -> None:
        pass

    def resend_body(self) -> bytes | None:
        return None

    def restore(self, handled: Iterable[AlertEvent]) -> int:
        return 0  # stateless: nothing to rebuild, and nothing is read


@dataclass
class Alertmanager:
    """POSTs to Alertmanager's v2 alerts API, re-sending what is still firing."""

    url: str
    kind: str = "alertmanager"
    mapper: AlertmanagerMapper = field(default_factory=AlertmanagerMapper)
    _pending: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @classmethod
    def at(cls, url: str) -> Alertmanager:
        """From the Alertmanager's base URL or the full alerts API URL."""
        base = url.rstrip("/")
        return cls(base if base.endswith(ALERTMANAGER_PATH) else base + ALERTMANAGER_PATH)

    def body(self, alert: AlertEvent) -> bytes:
        alerts = self.mapper.alerts_for(alert)
        self._pending[alert.alert_id] = alerts
        return encode(alerts)

    def sent(self, alert: AlertEvent) -> None:
        self.mapper.sent(alert, self._pending.pop(alert.alert_id))

    def resend_body(self) -> bytes | None:
        still = self.mapper.open_alerts()
        return encode(still) if still else None

    def restore(self, handled: Iterable[AlertEvent]) -> int:
        self.mapper, self._pending = AlertmanagerMapper(), {}
        count = 0
        for alert in handled:
            self.mapper.sent(alert, self.mapper.alerts_for(alert))
            count += 1
        return count


def make_destination(kind: str, url: str) -> Destination:
    """ValueError with the reason for a kind or URL that cannot work."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--url must be an http(s) URL, got {url!r}")
    if kind == "webhook":
        return Webhook(url)
    if kind == "alertmanager":
        return Alertmanager.at(url)
    raise ValueError(f"unknown destination {kind!r} (webhook, alertmanager)")


class AlertForwarder:
    def __init__(self, settings: Settings, destination: Destination, *,
                 policy: RetryPolicy | None = None, group_id: str | None = None) -> None:
        self.settings = settings
        self.destination = destination
        self.policy = policy or RetryPolicy()
        self.stage = f"forward_{destination.kind}"
        self.group_id = group_id or f"fleetcast-forward-{destination.kind}"
        self.delivered = 0
        self.dead_lettered = 0
        self._consumer = make_consumer(settings, self.group_id)
        self._producer = make_producer(settings)
        self._next_resend = time.monotonic() + RESEND_EVERY_S

    def _count(self, outcome: str) -> None:
        telemetry.ALERTS_FORWARDED.labels(self.destination.kind, outcome).inc()

    def run(self, stop: threading.Event) -> None:
        self._consumer.subscribe([self.settings.topic_alerts], on_assign=self._assigned,
                                 on_revoke=self._revoked)
        log.info("forwarding %s to %s %s (group %s)", self.settings.topic_alerts,
                 self.destination.kind, self.destination.url, self.group_id)
        try:
            while not stop.is_set():
                messages = self._consumer.consume(num_messages=100, timeout=0.5)
                telemetry.record_consumed(self.stage, self._consumer, messages)
                for message in messages:
                    if message.error() is not None:
                        log.warning("consumer error: %s", message.error())
                    elif not self.handle(message, stop):
                        return  # stopping mid-delivery: nothing committed, redelivered later
                self._resend_if_due(stop)
        finally:
            self._producer.flush(_FLUSH_TIMEOUT_S)
            self._consumer.close()
            log.info("forwarder stopped: %s", telemetry.fields(
                delivered=self.delivered, dead_lettered=self.dead_lettered))

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Rebuild the destination's state from what this group had handled in these partitions."""
        committed = consumer.committed(partitions, timeout=10)
        ends: dict[int, int | None] = {tp.partition: tp.offset for tp in committed}
        restored = self.destination.restore(self._handled(ends))
        if restored:
            log.info("replayed %d alert events handled before in partitions %s",
                     restored, sorted(ends))
            self._next_resend = time.monotonic()  # re-sent at once: it may have been a while

    def _revoked(self, _: object, __: list[TopicPartition]) -> None:
        self.destination.restore(())

    def _handled(self, ends: dict[int, int | None]) -> Iterator[AlertEvent]:
        """The decodable events before each committed offset (the others were dead-lettered)."""
        for message in read_partitions(self.settings, self.settings.topic_alerts, ends):
            try:
                yield AlertEvent.model_validate_json(message.value() or b"")
            except ValidationError:
                continue

    def handle(self, message: Message, stop: threading.Event) -> bool:
        """Deliver (or dead-letter) one event and commit it; False if stopped before that."""
        where = telemetry.fields(topic=message.topic(), partition=message.partition(),
                                 offset=message.offset())
        try:
            alert = AlertEvent.model_validate_json(message.value() or b"")
        except ValidationError as exc:
            self._dead_letter(message, f"invalid alert event: {describe_validation_error(exc)}")
        else:
            outcome = deliver(self.destination.url, self.destination.body(alert), self.policy,
                              stop, headers={"Idempotency-Key": _idempotency_key(alert)},
                              on_retry=lambda: self._count("retried"))
            if outcome.stopped:
                return False
            self.destination.sent(alert)
            self._report(alert, outcome, message, where)
        self._consumer.commit(message=message, asynchronous=False)
        return True

    def _report(self, alert: AlertEvent, outcome: Delivery, message: Message, where: str) -> None:
        about = telemetry.fields(server_id=alert.server_id, alert_id=alert.alert_id,
                                 status=alert.status, severity=alert.severity,
                                 attempts=outcome.attempts)
        if outcome.delivered:
            self.delivered += 1
            self._count("delivered")
            log.info("alert forwarded to %s %s %s", self.destination.kind, where, about)
            return
        self._dead_letter(message, f"{self.destination.kind} {self.destination.url}: "
                                   f"gave up: {outcome.reason}")

    def _dead_letter(self, message: Message, reason: str) -> None:
        dead_letter_message(self.settings, self._producer, message, stage=self.stage,
                            reason=reason)
        if self._producer.flush(_FLUSH_TIMEOUT_S):
            raise RuntimeError("dead letter not delivered; not committing the alert's offset")
        self.dead_lettered += 1
        self._count("dead_lettered")
        telemetry.DEAD_LETTERS.labels(self.stage, message.topic() or "").inc()

    def _resend_if_due(self, stop: threading.Event) -> None:
        if time.monotonic() < self._next_resend:
            return
        self._next_resend = time.monotonic() + RESEND_EVERY_S
        body = self.destination.resend_body()
        if body is None:
            return
        outcome = deliver(self.destination.url, body, RetryPolicy(attempts=1,
                          timeout_s=self.policy.timeout_s), stop)
        if not outcome.delivered:
            log.warning("re-sending open alerts to %s failed: %s", self.destination.url,
                        outcome.reason)


def _idempotency_key(alert: AlertEvent) -> str:
    """The same for redeliveries of one event, different for each event of an alert."""
    return f"{alert.alert_id}:{alert.status}:{alert.severity}:{alert.issued_at.isoformat()}"


def run_forwarder(
    settings: Settings, destination: Destination, stop: threading.Event | None = None, *,
    policy: RetryPolicy | None = None, group_id: str | None = None,
) -> AlertForwarder:
    stop = stop_on_signals(stop)
    ensure_topics(settings)
    metrics = telemetry.serve_metrics(settings, "forward")
    forwarder = AlertForwarder(settings, destination, policy=policy, group_id=group_id)
    try:
        forwarder.run(stop)
    finally:
        telemetry.close_metrics(metrics)
    return forwarder
