"""An 8-hour quantile forecast for one server, with its risk, on ``fleetcast.forecasts``.

Keyed by ``server_id``; ``forecast_id`` is ``<server_id>@<start>`` so that a
re-scored window replaces its earlier forecast instead of adding a second one.
Step ``h`` of a forecast covers ``[start + h * step_seconds, start + (h + 1) * step_seconds)``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload, ServerId
from schemas.profiles import Profile
from schemas.severity import Severity


class MetricForecast(Payload):
    p10: list[float]
    p50: list[float]
    p90: list[float]


class Forecast(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    forecast_id: str
    server_id: ServerId
    profile: Profile
    model_version: str
    issued_at: AwareDatetime = Field(description="Wall-clock time the forecast was made.")
    start: AwareDatetime = Field(description="Start of the first forecast step (= window end).")
    step_seconds: int
    horizon_steps: int
    status: Literal["ok", "warming_up"] = Field(
        description="warming_up: the context is shorter than the model's minimum; no quantiles."
    )
    context_steps: int = Field(description="Observed steps in the context window.")
    min_context_steps: int
    last_values: dict[str, float | None] = Field(description="Last observed value per metric.")
    quantiles: dict[str, MetricForecast] = Field(default_factory=dict)
    risk_score: float = Field(ge=0, le=100)
    severity: Severity
    risk_metric: str | None = Field(description="The metric that drives the risk score.")
    predicted_breach_at: AwareDatetime | None = Field(
        description="When the driving metric's p50 first crosses its critical threshold."
    )

    @staticmethod
    def make_id(server_id: str, start: AwareDatetime) -> str:
        return f"{server_id}@{start.isoformat()}"
