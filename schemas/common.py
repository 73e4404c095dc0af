"""Pieces shared by several payloads: the metric list, server ids, encoding."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, WithJsonSchema

SCHEMA_VERSION: Final = 1

#: Every metric a server reports, in the order used by windows and forecasts.
METRICS: Final = (
    "cpu_pct",
    "mem_pct",
    "disk_pct",
    "net_in_mbps",
    "net_out_mbps",
    "latency_ms",
    "error_rate",
)
MetricName = Literal[
    "cpu_pct", "mem_pct", "disk_pct", "net_in_mbps", "net_out_mbps", "latency_ms", "error_rate"
]

#: Physical bounds per metric: anything outside is a broken sensor or a hostile sender.
METRIC_BOUNDS: Final[dict[str, tuple[float, float]]] = {
    "cpu_pct": (0.0, 100.0),
    "mem_pct": (0.0, 100.0),
    "disk_pct": (0.0, 100.0),
    "net_in_mbps": (0.0, 1_000_000.0),
    "net_out_mbps": (0.0, 1_000_000.0),
    "latency_ms": (0.0, 3_600_000.0),
    "error_rate": (0.0, 1.0),
}

SERVER_ID_MAX_LEN: Final = 64
#: Matched with ``fullmatch``: ``$`` alone would let a trailing newline through ("x\n").
SERVER_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_SERVER_ID_RE = re.compile(SERVER_ID_PATTERN)
#: The same rule for JSON Schema and OpenAPI, anchored at both ends in every dialect:
#: ``(?![\s\S])`` (nothing follows) where ``$`` would pass "x\n" in Python's ``re``.
SERVER_ID_SCHEMA_PATTERN: Final = rf"^{SERVER_ID_PATTERN}(?![\s\S])"


def _check_server_id(value: str) -> str:
    if not value:
        raise ValueError("server_id is empty")
    if len(value) > SERVER_ID_MAX_LEN:
        raise ValueError(f"server_id longer than {SERVER_ID_MAX_LEN} characters")
    if not _SERVER_ID_RE.fullmatch(value):
        raise ValueError(
            "server_id may hold only letters, digits, '.', '_' and '-' and must start "
            "with a letter or digit"
        )
    return value


#: Checked by ``_check_server_id`` (its messages say what is wrong); the JSON Schema and the
#: OpenAPI carry the same rule as a pattern, anchored at both ends, for other tools.
ServerId = Annotated[
    str,
    AfterValidator(_check_server_id),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": SERVER_ID_MAX_LEN,
                    "pattern": SERVER_ID_SCHEMA_PATTERN}),
]


class Payload(BaseModel):
    """Base of every payload: strict about unknown fields, JSON in and out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Payload:
        return cls.model_validate_json(raw)


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A one-line, operator-readable account of why a payload was refused."""
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
