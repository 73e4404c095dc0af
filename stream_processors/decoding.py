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
    if key is not None and key != event.server_id.encode():
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
