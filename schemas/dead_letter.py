"""A rejected input on ``fleetcast.deadletter``: what, where from, why, and the original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload


class DeadLetter(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    stage: str = Field(description="The service that rejected it: process, infer, produce...")
    reason: str
    source_topic: str
    partition: int | None = None
    offset: int | None = None
    key_b64: str | None = Field(description="The original key, base64.")
    payload_b64: str = Field(description="The original value bytes, base64.")
    rejected_at: AwareDatetime

    @staticmethod
    def encode(raw: bytes | None) -> str:
        return base64.b64encode(raw or b"").decode()

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
        return cls(
            stage=stage,
            reason=reason[:2000],
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            key_b64=cls.encode(key) if key is not None else None,
            payload_b64=cls.encode(value),
            rejected_at=datetime.now(UTC),
        )

    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)
