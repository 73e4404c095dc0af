"""The alert lifecycle per server, a pure state machine.

An alert opens (``firing``) when a server rises to ``warning`` or above,
fires again with the same ``alert_id`` when its severity changes while open,
and closes (``resolved``) when the server falls back below ``warning``.
Nothing is emitted while the severity stays the same, so consumers are not
flooded with one identical alert per window.

The open alerts are the tracker's only state: ``get`` gives a server's (what
the worker writes to the alert-state topic after each event), and ``seed``
replaces them all with the open alerts of the servers a worker has just been
handed, so a restarted or another worker resolves an alert under the id it
fired with.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from inference_worker.scoring import Risk
from schemas.alert import AlertEvent, OpenAlert
from schemas.severity import Severity, rank

ALERT_FROM: Severity = "warning"
_NAMESPACE = uuid.UUID("6c1d2e1c-4a53-4f0e-9a53-6d2f0c8f7e11")


class AlertTracker:
    """Open alerts by server; ``update`` returns the event to publish, if any."""

    def __init__(self, max_servers: int = 100_000) -> None:
        self._open: dict[str, OpenAlert] = {}
        self._max_servers = max_servers

    def open_alerts(self) -> dict[str, OpenAlert]:
        return dict(self._open)

    def get(self, server_id: str) -> OpenAlert | None:
        """The server's open alert, None when it has none."""
        return self._open.get(server_id)

    def seed(self, alerts: Iterable[OpenAlert]) -> None:
        """Hold exactly ``alerts`` from now on (the last one given wins for a server)."""
        self._open = {}
        for alert in alerts:
            self._open.pop(alert.server_id, None)  # re-inserted last: the newest is evicted last
            self._hold(alert)

    def _hold(self, alert: OpenAlert) -> None:
        if alert.server_id not in self._open and len(self._open) >= self._max_servers:
            self._open.pop(next(iter(self._open)))
        self._open[alert.server_id] = alert

    def update(
        self,
        *,
        server_id: str,
        profile: str,
        risk: Risk,
        window_end: datetime,
        issued_at: datetime,
        model_version: str,
    ) -> AlertEvent | None:
        current = self._open.get(server_id)
        alarming = rank(risk.severity) >= rank(ALERT_FROM)
        if alarming:
            if current is not None and current.severity == risk.severity:
                return None
            if current is None:
                # Derived from the window that opened it, so a re-scored window
                # (at-least-once delivery) opens the same alert, not a second one.
                alert_id = str(uuid.uuid5(_NAMESPACE, f"{server_id}@{window_end.isoformat()}"))
                current = OpenAlert(alert_id=alert_id, server_id=server_id,
                                    severity=risk.severity, opened_at=window_end)
            else:
                current = current.model_copy(update={"severity": risk.severity})
            self._hold(current)
            status = "firing"
        elif current is not None:
            del self._open[server_id]
            status = "resolved"
        else:
            return None
        return AlertEvent(
            alert_id=current.alert_id,
            server_id=server_id,
            profile=profile,
            status=status,
            severity=risk.severity,
            risk_score=risk.score,
            metric=risk.metric,
            summary=risk.summary,
            predicted_breach_at=risk.predicted_breach_at,
            issued_at=issued_at,
            model_version=model_version,
            cause=risk.cause,
            p_30m=None if risk.p_30m is None else round(risk.p_30m, 4),
            p_8h=None if risk.p_8h is None else round(risk.p_8h, 4),
        )
