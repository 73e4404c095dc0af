"""A rejected input on ``fleetcast.deadletter``: what, where from, why, and the original bytes.

The copy of the original is bounded: the first ``KEPT_BYTES`` (64 KiB) of
its value, with the value's full length and SHA-256, so the dead letter of
any message, however large, fits under the broker's (and every client's)
1 MB message limit. A dead letter that could not be sent because it was
too large is how one oversized input used to crash a consumer at every
restart. ``payload_truncated`` says whether ``payload()`` is the whole value.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload

#: Bytes of the original value (and of its key) kept in a dead letter.
KEPT_BYTES: Final = 64 * 1024
#: Characters of the reason kept.
REASON_CHARS: Final = 2000


class DeadLetter(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    stage: str = Field(description="The service that rejected it: process, infer, produce...")
    reason: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = Field(description="The original key (its first 64 KiB), base64.")
    payload_b64: str = Field(description="The original value's first 64 KiB, base64.")
    payload_bytes: int | None = Field(
        default=None, ge=0, description="The original value's full length in bytes.")
    payload_sha256: str | None = Field(
        default=None, description="SHA-256 (hex) of the original value, all of it.")
    payload_truncated: bool = Field(
        default=False, description="True when payload_b64 holds only the value's first 64 KiB.")
    rejected_at: AwareDatetime

    @staticmethod
    def encode(raw: bytes | None) -> str:
        """Base64 of at most the first ``KEPT_BYTES`` of ``raw``."""
        return base64.b64encode((raw or b"")[:KEPT_BYTES]).decode()

    @classmethod
    def reject(
        cls,
        *,
        stage: str,
        reason: str,
        source_topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> DeadLetter:
        """The dead letter for one rejected message, stamped now."""
        raw = value or b""
        return cls(
            stage=stage,
            reason=reason[:REASON_CHARS],
            source_topic=source_topic[:1000],
            partition=partition,
            offset=offset,
            key_b64=cls.encode(key) if key is not None else None,
            payload_b64=cls.encode(raw),
            payload_bytes=len(raw),
            payload_sha256=hashlib.sha256(raw).hexdigest(),
            payload_truncated=len(raw) > KEPT_BYTES,
            rejected_at=datetime.now(UTC),
        )

    def payload(self) -> bytes:
        """The original value, or its first 64 KiB when ``payload_truncated``."""
        return base64.b64decode(self.payload_b64)
