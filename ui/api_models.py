"""Request and response bodies of the HTTP API (the payload models come from ``schemas``)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.common import ServerId
from schemas.control_event import MAX_SERVERS_PER_COMMAND, Scenario
from schemas.forecast import Forecast
from schemas.profiles import Profile
from schemas.severity import Severity
from ui.feed import FleetFeed
from ui.fleet_state import FleetState


class FeedHealth(BaseModel):
    running: bool
    applied: int = Field(description="Messages folded into the view.")
    undecodable: int = Field(description="Messages skipped because they did not decode.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    servers: int
    firing_alerts: int
    version: int = Field(description="Bumped on every change of the view.")
    feed: FeedHealth | None = Field(description="The Kafka feed, when this app runs one.")

    @classmethod
    def of(cls, state: FleetState, feed: FleetFeed | None) -> Health:
        return cls(
            servers=state.server_count(),
            firing_alerts=state.firing_count(),
            version=state.version,
            feed=FeedHealth(
                running=feed.running, applied=feed.applied, undecodable=feed.undecodable
            ) if feed is not None else None,
        )


class FleetRow(BaseModel):
    server_id: str
    profile: Profile
    severity: Severity
    risk_score: float
    risk_metric: str | None
    risk_value: float | None = Field(description="The driving metric's latest value.")
    predicted_breach_at: AwareDatetime | None
    breach_in_s: float | None = Field(description="Seconds from the forecast start to the breach.")
    p_30m: float = Field(description="Chance of a metric crossing critical within 30 minutes.")
    p_8h: float = Field(description="Chance of a metric crossing critical within 8 hours.")
    status: Literal["ok", "warming_up"]
    context_steps: int
    min_context_steps: int
    start: AwareDatetime
    updated_at: AwareDatetime = Field(description="When the forecast was issued.")
    model_version: str


class HistoryPoint(BaseModel):
    start: AwareDatetime
    severity: Severity
    risk_score: float


class ServerDetail(BaseModel):
    forecast: Forecast
    history: list[HistoryPoint] = Field(description="Recent severities, oldest first.")


class ScenarioRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scenario: Scenario
    servers: list[ServerId] = Field(
        default_factory=list,
        max_length=MAX_SERVERS_PER_COMMAND,
        description="Servers to act on; empty for the whole fleet.",
    )
