"""The topic catalogue: every topic, its default name, partitions, key and payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from schemas.alert import AlertEvent, OpenAlert
from schemas.common import Payload
from schemas.context_window import ContextWindow
from schemas.control_event import ControlEvent
from schemas.dead_letter import DeadLetter
from schemas.forecast import Forecast
from schemas.metric_event import MetricEvent
from schemas.scenario_state import ScenarioState


@dataclass(frozen=True)
class TopicSpec:
    role: str  # the settings field suffix: topic_<role>
    default_name: str
    partitions: int
    key: str | None
    payload: type[Payload]
    description: str
    #: Kept as the latest record per key (``cleanup.policy=compact``): a state, not a log.
    compacted: bool = False


# Partition counts: metrics/windows/forecasts are keyed by server and spread
# over 6 partitions so up to 6 workers of one kind share the load; control is
# one ordered stream of commands; alerts keep one partition per server order.
# scenarios is small (a record per server, compacted): one partition.
# alert_state has windows' partition count on purpose: the worker holding
# windows partition p finds the open alerts of exactly its servers in
# alert_state partition p (it writes them there by number, whatever the partitioner).
SERVER_PARTITIONS: Final = 6
TOPICS: Final[tuple[TopicSpec, ...]] = (
    TopicSpec("metrics", "fleetcast.metrics", SERVER_PARTITIONS, "server_id", MetricEvent,
              "Raw metric events from producers."),
    TopicSpec("control", "fleetcast.control", 1, None, ControlEvent,
              "Operator commands (scenarios)."),
    TopicSpec("windows", "fleetcast.windows", SERVER_PARTITIONS, "server_id", ContextWindow,
              "24 h context per server, one per closed 5-minute step."),
    TopicSpec("forecasts", "fleetcast.forecasts", SERVER_PARTITIONS, "server_id", Forecast,
              "8 h p10/p50/p90 forecasts with risk."),
    TopicSpec("alerts", "fleetcast.alerts", 3, "server_id", AlertEvent,
              "Alert lifecycle: firing and resolved."),
    TopicSpec("alert_state", "fleetcast.alert-state", SERVER_PARTITIONS, "server_id", OpenAlert,
              "Open alerts per server (compacted; a tombstone on resolve).", compacted=True),
    TopicSpec("deadletter", "fleetcast.deadletter", 1, None, DeadLetter,
              "Rejected inputs with the reason and the original bytes."),
    TopicSpec("scenarios", "fleetcast.scenarios", 1, "server_id", ScenarioState,
              "The scenario each server is in, as the simulator applied it, and refusals.",
              compacted=True),
)
TOPIC_BY_ROLE: Final = {spec.role: spec for spec in TOPICS}
