"""Alert lifecycle events on ``fleetcast.alerts``: the contract for external consumers.

A server rising to ``warning`` or above opens an alert (``firing``); each change
of severity while open is another ``firing`` event with the same ``alert_id``;
falling back below ``warning`` closes it (``resolved``, same ``alert_id``).

``OpenAlert`` is the inference worker's own record of an alert still open, on
the compacted ``fleetcast.alert-state`` topic keyed by server (a tombstone once
it resolves): whichever worker holds a server next carries its alert on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload, ServerId
from schemas.profiles import Profile
from schemas.severity import Severity

AlertStatus = Literal["firing", "resolved"]


class AlertEvent(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    alert_id: str = Field(description="Stable for one episode, from firing to resolved.")
    server_id: ServerId
    profile: Profile
    status: AlertStatus
    severity: Severity
    risk_score: float = Field(ge=0, le=100)
    metric: str | None = Field(description="The metric driving the risk.")
    summary: str
    predicted_breach_at: AwareDatetime | None = Field(
        description="When the metric is expected to reach its critical threshold (forecast-driven "
        "alerts always carry it)."
    )
    issued_at: AwareDatetime
    model_version: str
    cause: Literal["forecast", "current"] = Field(
        "current", description="forecast: the model expects a breach; current: the value now."
    )
    p_30m: float | None = Field(
        None, ge=0, le=1, description="The metric's chance of an incident within 30 minutes."
    )
    p_8h: float | None = Field(
        None, ge=0, le=1, description="The metric's chance of an incident within 8 h."
    )


class OpenAlert(Payload):
    """An open alert as the worker that fired it left it: enough to resolve it under its id."""

    schema_version: Literal[1] = SCHEMA_VERSION
    alert_id: str
    server_id: ServerId
    severity: Severity = Field(description="The severity last published for it (firing).")
    opened_at: AwareDatetime = Field(description="The end of the window that opened it.")
