"""The operator token that guards every write (API and dashboard alike).

No token configured means writes are off, not open. The comparison runs in
constant time (on bytes: ``compare_digest`` rejects non-ASCII ``str``), so a
client cannot learn the token from response times.
"""

from __future__ import annotations

import hmac
from enum import Enum

from core.settings import Settings


class Verdict(Enum):
    ALLOWED = "allowed"
    WRITES_OFF = "writes are disabled: no operator token is configured (set FLEETCAST_API_TOKEN)"
    REFUSED = "a valid operator token is required"


def check_token(settings: Settings, given: str | None) -> Verdict:
    expected = settings.api_token.get_secret_value() if settings.api_token else ""
    if not expected:
        return Verdict.WRITES_OFF
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        return Verdict.REFUSED
    return Verdict.ALLOWED
