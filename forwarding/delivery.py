"""POSTing JSON with retries and exponential backoff (standard library HTTP, no Kafka)."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from core import __version__

log = logging.getLogger(__name__)

#: Client errors worth another try: timeouts and rate limits. Other 4xx answers
#: will not change by retrying, so they are given up at once.
_RETRYABLE_CLIENT_ERRORS: Final = frozenset({408, 425, 429})
_SERVER_ERROR: Final = 500


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first one included
    first_delay_s: float = 0.5  # doubled after each failure
    max_delay_s: float = 30.0
    timeout_s: float = 10.0  # per request

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_delay_s < 0 or self.timeout_s <= 0:
            raise ValueError(f"invalid retry policy {self}")

    def delay(self, failures: int) -> float:
        """The wait after the ``failures``-th failed attempt (1, 2, ...)."""
        return float(min(self.first_delay_s * 2 ** (failures - 1), self.max_delay_s))


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    reason: str = ""  # the last failure, when not delivered
    stopped: bool = False  # given up because the service is stopping: do not commit


class AttemptFailedError(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


def post_json(url: str, body: bytes, *, timeout_s: float,
              headers: Mapping[str, str] | None = None) -> int:
    """POST ``body`` as JSON; the HTTP status when 2xx, else AttemptFailedError."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"fleetcast/{__version__}",
        **(headers or {}),
    })
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= _SERVER_ERROR or exc.code in _RETRYABLE_CLIENT_ERRORS
        raise AttemptFailedError(f"HTTP {exc.code} {exc.reason}", retryable=retryable) from None
    except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
        reason = getattr(exc, "reason", exc)
        raise AttemptFailedError(f"{type(exc).__name__}: {reason}", retryable=True) from None


def deliver(
    url: str, body: bytes, policy: RetryPolicy, stop: threading.Event, *,
    headers: Mapping[str, str] | None = None, on_retry: Callable[[], object] | None = None,
) -> Delivery:
    """POST until delivered, a permanent failure, ``policy.attempts`` tries, or ``stop``."""
    reason = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            post_json(url, body, timeout_s=policy.timeout_s, headers=headers)
            return Delivery(True, attempt)
        except AttemptFailedError as exc:
            reason = str(exc)
            if not exc.retryable:
                return Delivery(False, attempt, f"{reason} (not retried)")
        if attempt == policy.attempts:
            break
        wait = policy.delay(attempt)
        log.warning("POST %s failed (attempt %d of %d): %s; retrying in %.1f s",
                    url, attempt, policy.attempts, reason, wait)
        if on_retry is not None:
            on_retry()
        if stop.wait(wait):
            return Delivery(False, attempt, reason, stopped=True)
    return Delivery(False, policy.attempts, f"{reason} after {policy.attempts} attempts")
