"""Turning raw metric messages into validated events, or a clear reason why not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from schemas.common import describe_validation_error
from schemas.metric_event import MAX_EVENT_BYTES, MetricEvent


class InputRejectedError(ValueError):
    """An input that cannot be used; ``str(exc)`` is the reason for the dead letter."""


def decode_metric_event(
    key: bytes | None,
    value: bytes | None,
    *,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(days=400),
) -> MetricEvent:
    """Validate one message from ``fleetcast.metrics``.

    Raises ``InputRejectedError`` whose text is the reason for the dead letter.
    """
    if value is None:
        raise InputRejectedError("empty message (no value)")
    if len(value) > MAX_EVENT_BYTES:
        raise InputRejectedError(
            f"message of {len(value)} bytes exceeds the {MAX_EVENT_BYTES}-byte cap"
        )
    try:
        event = MetricEvent.model_validate_json(value)
    except ValidationError as exc:
        reason = f"invalid metric event: {describe_validation_error(exc)}"
        raise InputRejectedError(reason) from None
    if key is None:
        raise InputRejectedError(
            f"message has no key; metrics must be keyed by server_id ({event.server_id!r}) "
            "so one worker owns each server"
        )
    if key != event.server_id.encode():
        raise InputRejectedError(
            f"message key {key[:80]!r} does not match server_id {event.server_id!r}; "
            "metrics must be keyed by server_id so one worker owns each server"
        )
    now = now or datetime.now(UTC)
    if abs(event.timestamp - now) > max_skew:
        raise InputRejectedError(
            f"timestamp {event.timestamp.isoformat()} is more than {max_skew.days} days "
            f"from now ({now.isoformat()})"
        )
    return event


def check_not_ahead(
    event: MetricEvent, watermark: float | None, now: datetime, max_ahead: timedelta
) -> None:
    """Refuse an event dated more than ``max_ahead`` beyond both the wall clock and its
    server's own latest event (``watermark``, epoch seconds; None for a new server).

    One event must not move a server's state into the future: every real event
    after it would be late and dead-lettered, silencing the server for as long
    as the forged date is ahead. An event ahead of the wall clock is accepted
    only when it continues its server's own timeline, which is what the
    accelerated simulator sends (each of its minutes follows the last one).
    Old recordings are in the past and meet the separate ``max_skew`` instead.
    """
    reference = now.timestamp() if watermark is None else max(now.timestamp(), watermark)
    ahead = event.timestamp.timestamp() - reference
    if ahead > max_ahead.total_seconds():
        raise InputRejectedError(
            f"timestamp {event.timestamp.isoformat()} is {ahead:.0f} s ahead of the wall clock "
            "and of its server's latest event "
            f"(at most {max_ahead.total_seconds():g} s, FLEETCAST_MAX_FUTURE_SKEW_S; "
            f"wall clock {now.isoformat()})"
        )
