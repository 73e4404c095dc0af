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
from ui.fleet_state import FleetState, Override, Refusal
from ui.pipeline_monitor import Snapshot

#: ``Health.degraded`` names this when the cluster could not be sampled.
KAFKA = "kafka"


class FeedHealth(BaseModel):
    running: bool
    applied: int = Field(description="Messages folded into the view.")
    undecodable: int = Field(description="Messages skipped because they did not decode.")
    max_servers: int = Field(
        description="Servers the view holds at most (FLEETCAST_UI_MAX_SERVERS).")
    evicted: int = Field(description="Servers dropped to make room, after "
                         "FLEETCAST_EVICT_SILENT_AFTER_S without a forecast.")
    refused: int = Field(description="Servers not taken: at the cap with none silent.")


class StageHealth(BaseModel):
    stage: str = Field(description="process (the stream processor) or infer (the inference "
                       "worker).")
    role: str
    input_topic: str
    output_topic: str
    waiting_s: float | None = Field(
        description="Seconds its input has waited with neither new output nor its consumer "
        "group caught up; null: nothing waits.")
    stalled: bool = Field(description="Waiting for longer than `stall_after_s`.")


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="`degraded` when a stage of the pipeline has stopped or the cluster could "
        "not be sampled (see `degraded`). The answer is 200 either way: the API itself is up.")
    degraded: list[str] = Field(
        default_factory=list,
        description="The stopped stages (`process`, `infer`), and `kafka` when the cluster "
        "could not be sampled; empty when ok.")
    stall_after_s: float | None = Field(
        None, description="How long a stage's input may wait with no output: two steps of the "
        "pipeline (5-minute steps, FLEETCAST_SPEED times faster), at least three samples.")
    stages: list[StageHealth] = Field(
        default_factory=list, description="Each stage at the latest sample of the cluster; "
        "empty before the first sample and without a Kafka feed.")
    servers: int
    firing_alerts: int
    version: int = Field(description="Bumped on every change of the view.")
    feed: FeedHealth | None = Field(description="The Kafka feed, when this app runs one.")

    @classmethod
    def of(cls, state: FleetState, feed: FleetFeed | None, pipeline: Snapshot | None = None,
           stall_after_s: float | None = None) -> Health:
        stages = [StageHealth(**vars(stage)) for stage in pipeline.stages] if pipeline else []
        degraded = [stage.stage for stage in stages if stage.stalled]
        if pipeline is not None and pipeline.error is not None:
            degraded.append(KAFKA)
        return cls(
            status="degraded" if degraded else "ok",
            degraded=degraded,
            stall_after_s=stall_after_s,
            stages=stages,
            servers=state.server_count(),
            firing_alerts=state.firing_count(),
            version=state.version,
            feed=FeedHealth(
                running=feed.running, applied=feed.applied, undecodable=feed.undecodable,
                max_servers=state.max_servers, evicted=state.evicted, refused=state.refused,
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


class ScenarioOverride(BaseModel):
    server_id: str
    scenario: str = Field(description="What the server does: the scenario, or the ramp a "
                          "degrading server is on (memory_leak, disk_fill, creeping_load).")
    since: AwareDatetime = Field(description="When the simulator published it.")


class ScenarioRefusal(BaseModel):
    scenario: str
    servers_named: int = Field(description="Servers the command named (0: fleet-wide).")
    reason: str
    at: AwareDatetime = Field(description="When the simulator published the refusal.")


class Scenarios(BaseModel):
    """Scenarios as the simulator applied them (the scenarios topic), not as commands asked."""

    active: list[ScenarioOverride] = Field(description="Servers in a scenario, by server id.")
    refused: list[ScenarioRefusal] = Field(
        description="The latest refused commands (at most 100), newest first.")

    @classmethod
    def of(cls, overrides: dict[str, Override], refusals: list[Refusal]) -> Scenarios:
        return cls(
            active=[ScenarioOverride(server_id=sid, scenario=o.scenario, since=o.since)
                    for sid, o in overrides.items()],
            refused=[ScenarioRefusal(**vars(r)) for r in refusals],
        )
