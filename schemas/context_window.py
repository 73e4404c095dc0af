"""A server's 24-hour context: the last ``steps`` 5-minute steps, published on each closed step.

Step ``i`` covers ``[end - (steps - i) * step_seconds, end - (steps - i - 1) * step_seconds)``:
the last entry is the step that just closed and ``end`` is where a forecast
starts. A value is the mean of the events in that step; ``null`` is a gap.
``counts[i]`` is how many events went into step ``i``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from schemas.common import METRICS, SCHEMA_VERSION, Payload, ServerId
from schemas.grid import CONTEXT_STEPS, STEP_SECONDS
from schemas.profiles import Profile

__all__ = ["CONTEXT_STEPS", "STEP_SECONDS", "ContextWindow"]


class ContextWindow(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    server_id: ServerId
    profile: Profile
    end: AwareDatetime = Field(description="End of the last closed step; forecasts start here.")
    step_seconds: int = STEP_SECONDS
    steps: int = Field(CONTEXT_STEPS, ge=1)
    values: dict[str, list[float | None]] = Field(
        description="Per metric, one mean per step, oldest first; null where no event fell."
    )
    counts: list[int] = Field(description="Events aggregated into each step.")

    @model_validator(mode="after")
    def _shape(self) -> ContextWindow:
        if set(self.values) != set(METRICS):
            raise ValueError(f"values must hold exactly the metrics {list(METRICS)}")
        for name, series in self.values.items():
            if len(series) != self.steps:
                raise ValueError(f"values[{name}] has {len(series)} steps, expected {self.steps}")
        if len(self.counts) != self.steps:
            raise ValueError(f"counts has {len(self.counts)} steps, expected {self.steps}")
        return self

    @property
    def observed_steps(self) -> int:
        """Steps that received at least one event."""
        return sum(1 for count in self.counts if count > 0)

    def step_start(self, index: int) -> AwareDatetime:
        return self.end - timedelta(seconds=(self.steps - index) * self.step_seconds)
