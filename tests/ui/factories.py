"""Valid payloads for the UI tests, with only what a test cares about as arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from schemas.alert import AlertEvent, AlertStatus
from schemas.common import METRICS
from schemas.control_event import Scenario
from schemas.forecast import Forecast, MetricForecast
from schemas.profiles import profile_for
from schemas.scenario_state import ScenarioState
from schemas.severity import Severity, severity_for

T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
HORIZON = 4  # short horizons keep the payloads small; the UI does not care about length


def make_forecast(
    server_id: str = "ppdb001",
    risk: float = 10.0,
    *,
    step: int = 0,
    status: Literal["ok", "warming_up"] = "ok",
    context_steps: int = 288,
    breach_in: timedelta | None = None,
    risk_metric: str | None = "cpu_pct",
    model_version: str = "test",
) -> Forecast:
    """A forecast for the window ending ``step`` steps after ``T0``."""
    start = T0 + step * STEP
    quantiles = {} if status == "warming_up" else {
        name: MetricForecast(p10=[1.0] * HORIZON, p50=[2.0] * HORIZON, p90=[3.0] * HORIZON)
        for name in METRICS
    }
    return Forecast(
        forecast_id=Forecast.make_id(server_id, start),
        server_id=server_id,
        profile=profile_for(server_id),
        model_version=model_version,
        issued_at=start + timedelta(seconds=2),
        start=start,
        step_seconds=int(STEP.total_seconds()),
        horizon_steps=HORIZON,
        status=status,
        context_steps=context_steps,
        min_context_steps=36,
        last_values=dict.fromkeys(METRICS, 50.0),
        quantiles=quantiles,
        risk_score=risk,
        severity=severity_for(risk),
        risk_metric=risk_metric,
        predicted_breach_at=start + breach_in if breach_in is not None else None,
    )


def make_alert(
    server_id: str = "ppdb001",
    status: AlertStatus = "firing",
    *,
    alert_id: str | None = None,
    severity: Severity = "warning",
    risk: float = 65.0,
    minute: int = 0,
) -> AlertEvent:
    """An alert event issued ``minute`` minutes after ``T0``."""
    return AlertEvent(
        alert_id=alert_id or f"{server_id}-1",
        server_id=server_id,
        profile=profile_for(server_id),
        status=status,
        severity=severity,
        risk_score=risk,
        metric="cpu_pct",
        summary=f"{server_id} cpu_pct {status}",
        predicted_breach_at=None,
        issued_at=T0 + timedelta(minutes=minute),
        model_version="test",
    )


def applied(server_id: str, state: str, scenario: Scenario | None = None) -> ScenarioState:
    """The simulator's record of ``server_id`` entering ``state`` (for ``scenario``)."""
    return ScenarioState(outcome="applied", server_id=server_id, scenario=scenario,
                         state=state, servers_named=1, at=T0)


def refused(scenario: Scenario, reason: str, servers_named: int = 1) -> ScenarioState:
    return ScenarioState(outcome="refused", server_id=None, scenario=scenario, state=None,
                         reason=reason, servers_named=servers_named, at=T0)
