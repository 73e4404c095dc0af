"""Alert quality on simulator data, where the truth is known.

The recorded history is replayed through the worker's own path offline:
every ``stride`` steps each server's last 24 h become a context window, the
forecaster and the risk scoring run on it, and the alert state machine
decides what would have been published. Then:

- an **incident** is a metric of a server crossing its profile's critical
  threshold (``schemas/thresholds.py``) after at least an hour below
  it; it was **warned** if an alert of ``danger`` or worse was firing for
  that server at some point in the 8 hours up to the crossing, and the
  **lead time** is how long before the crossing that alert first reached
  ``danger``;
- **false alerts** are alerts that open (``warning`` or worse) in a history
  with no incidents injected, per 100 server-days; the same count at
  ``danger`` or worse is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from inference_worker.forecaster import Forecaster
from modelling.alert_replay import (
    count_windows,
    every_step,
    replay_windows,
    server_arrays,
    window_at,
)
from schemas.alert import AlertEvent
from schemas.common import METRICS
from schemas.grid import CONTEXT_STEPS
from schemas.profiles import profile_for
from schemas.severity import rank
from schemas.thresholds import thresholds_for

STEP = timedelta(minutes=5)
__all__ = ["find_incidents", "judge", "replay_alerts", "server_arrays", "window_at"]
WARN_WINDOW = timedelta(hours=8)
QUIET_BEFORE = timedelta(hours=1)


@dataclass(frozen=True)
class Incident:
    server_id: str
    metric: str
    at: datetime


@dataclass
class AlertQuality:
    incidents: int
    warned: int
    lead_times_min: list[float]
    alerts_opened: int
    danger_alerts_opened: int
    server_days: float

    @property
    def warned_share(self) -> float | None:
        return self.warned / self.incidents if self.incidents else None

    @property
    def median_lead_min(self) -> float | None:
        return float(np.median(self.lead_times_min)) if self.lead_times_min else None

    def false_alerts_per_100_server_days(self, danger_only: bool = False) -> float:
        opened = self.danger_alerts_opened if danger_only else self.alerts_opened
        return 100.0 * opened / self.server_days if self.server_days else 0.0


def find_incidents(wide: pd.DataFrame) -> list[Incident]:
    incidents = []
    quiet_steps = int(QUIET_BEFORE / STEP)
    for server_id, (stamps, values) in server_arrays(wide).items():
        limits = thresholds_for(profile_for(server_id))
        for m, name in enumerate(METRICS):
            above = values[:, m] >= limits[name].critical
            for t in np.flatnonzero(above[1:] & ~above[:-1]) + 1:
                if t >= quiet_steps and not above[t - quiet_steps : t].any():
                    incidents.append(Incident(server_id, name, stamps[t].to_pydatetime()))
    return incidents


def replay_alerts(
    wide: pd.DataFrame,
    forecaster: Forecaster,
    *,
    context_steps: int = CONTEXT_STEPS,
    stride: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> list[AlertEvent]:
    """The alert events the worker would have published, replaying ``wide`` window by window
    (every ``stride`` steps once a server has the forecaster's minimum context)."""
    arrays = server_arrays(wide)
    last_steps = every_step(arrays, forecaster.min_context_steps, stride)
    total, done = count_windows(last_steps), 0
    alerts: list[AlertEvent] = []
    for batch in replay_windows(arrays, forecaster, last_steps, context_steps=context_steps):
        alerts.extend(s.alert for s in batch.scored if s.alert is not None)
        done += len(batch.scored)
        if progress:
            progress(done, total)
    return alerts


def judge(
    incidents: list[Incident], alerts: list[AlertEvent], *, server_days: float
) -> AlertQuality:
    """Score the alerts of an incident run (for false alerts, pass a run with no incidents)."""
    danger_since = _danger_onsets(alerts)
    leads = []
    for incident in incidents:
        onsets = [
            at
            for at in danger_since.get(incident.server_id, [])
            if incident.at - WARN_WINDOW <= at <= incident.at
        ]
        if onsets:
            leads.append((incident.at - min(onsets)).total_seconds() / 60)
    opened = {a.alert_id for a in alerts if a.status == "firing"}
    danger = {
        a.alert_id for a in alerts if a.status == "firing" and rank(a.severity) >= rank("danger")
    }
    return AlertQuality(
        incidents=len(incidents),
        warned=len(leads),
        lead_times_min=leads,
        alerts_opened=len(opened),
        danger_alerts_opened=len(danger),
        server_days=server_days,
    )


def _danger_onsets(alerts: list[AlertEvent]) -> dict[str, list[datetime]]:
    """Per server, the times at which an alert reached danger or worse.

    An alert's ``issued_at`` is the end of the window it was scored on: the
    simulated moment the warning would have gone out.
    """
    onsets: dict[str, list[datetime]] = {}
    for alert in alerts:
        if alert.status == "firing" and rank(alert.severity) >= rank("danger"):
            onsets.setdefault(alert.server_id, []).append(alert.issued_at)
    return onsets
