"""A server's metrics at one instant: what every producer publishes to ``fleetcast.metrics``.

Keyed by ``server_id``. Missing metrics are ``null`` (the host cannot measure
them); at least one must be present. Values outside a metric's physical
bounds, NaN and infinities are rejected.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from schemas.common import METRIC_BOUNDS, METRICS, SCHEMA_VERSION, Payload, ServerId

MAX_EVENT_BYTES = 4096


class MetricEvent(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    server_id: ServerId
    timestamp: AwareDatetime = Field(description="Event time (ISO 8601 with time zone).")
    cpu_pct: float | None = Field(default=None, description="CPU busy, percent 0-100.")
    mem_pct: float | None = Field(default=None, description="Memory used, percent 0-100.")
    disk_pct: float | None = Field(default=None, description="Fullest disk, percent 0-100.")
    net_in_mbps: float | None = Field(default=None, description="Network in, megabits/s.")
    net_out_mbps: float | None = Field(default=None, description="Network out, megabits/s.")
    latency_ms: float | None = Field(default=None, description="Request latency, ms.")
    error_rate: float | None = Field(default=None, description="Failed requests, fraction 0-1.")

    model_config = Payload.model_config | {"allow_inf_nan": False}

    @model_validator(mode="after")
    def _within_bounds(self) -> MetricEvent:
        present = 0
        for name in METRICS:
            value = getattr(self, name)
            if value is None:
                continue
            present += 1
            low, high = METRIC_BOUNDS[name]
            if not low <= value <= high:
                raise ValueError(f"{name}={value} outside [{low}, {high}]")
        if present == 0:
            raise ValueError("no metric values: at least one metric must be present")
        return self

    def values(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in METRICS}
