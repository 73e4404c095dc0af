"""An 8-hour quantile forecast for one server, with its risk, on ``fleetcast.forecasts``.

Keyed by ``server_id``; ``forecast_id`` is ``<server_id>@<start>`` so that a
re-scored window replaces its earlier forecast instead of adding a second one.
Step ``h`` of a forecast covers ``[start + h * step_seconds, start + (h + 1) * step_seconds)``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload, ServerId
from schemas.profiles import Profile
from schemas.severity import Severity


class MetricForecast(Payload):
    p10: list[float]
    p50: list[float]
    p90: list[float]


Probability = Annotated[float, Field(ge=0, le=1)]


class BreachOutlook(Payload):
    """What the forecast says of one metric reaching its critical threshold (an incident)."""

    threshold: float = Field(description="The profile's critical threshold for this metric.")
    p_30m: Probability = Field(description="Calibrated probability of reaching the threshold "
                               "within 30 minutes (1 when the current value is past it).")
    p_8h: Probability = Field(description="Calibrated probability of reaching it within 8 h.")
    breach_at: AwareDatetime | None = Field(
        description="When p50 first reaches the threshold; where p50 stays below, the step the "
        "crossing is likeliest (while p_8h is at least 5%); null otherwise."
    )


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
        description="The driving metric's breach_at (see BreachOutlook)."
    )
    breach: dict[str, BreachOutlook] = Field(
        default_factory=dict, description="Per forecast metric: the chance of an incident."
    )
    p_incident_30m: Probability = Field(
        0.0, description="The server's chance of an incident (any metric) within 30 minutes."
    )
    p_incident_8h: Probability = Field(
        0.0, description="The server's chance of an incident (any metric) within 8 h."
    )

    @staticmethod
    def make_id(server_id: str, start: AwareDatetime) -> str:
        return f"{server_id}@{start.isoformat()}"
