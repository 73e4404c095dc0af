"""The single source of truth for every fleetcast payload and topic name.

One module per payload; each model carries ``schema_version``. The JSON Schema
files under ``schemas/jsonschema/`` are generated from these models
(``python -m schemas``) and a test keeps them in step.
"""

from schemas.alert import AlertEvent, AlertStatus
from schemas.common import METRICS, SCHEMA_VERSION, MetricName
from schemas.context_window import ContextWindow
from schemas.control_event import SCENARIOS, ControlEvent, Scenario
from schemas.dead_letter import DeadLetter
from schemas.forecast import Forecast, MetricForecast
from schemas.metric_event import MetricEvent
from schemas.profiles import PROFILES, Profile, profile_for
from schemas.scenario_state import ScenarioState
from schemas.severity import SEVERITIES, Severity, severity_for
from schemas.topics import TOPICS, TopicSpec

__all__ = [
    "METRICS",
    "PROFILES",
    "SCENARIOS",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "TOPICS",
    "AlertEvent",
    "AlertStatus",
    "ContextWindow",
    "ControlEvent",
    "DeadLetter",
    "Forecast",
    "MetricEvent",
    "MetricForecast",
    "MetricName",
    "Profile",
    "Scenario",
    "ScenarioState",
    "Severity",
    "TopicSpec",
    "profile_for",
    "severity_for",
]
