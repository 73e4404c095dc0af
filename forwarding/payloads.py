"""Alert events in each destination's format (pure: no network, no Kafka).

webhook: the alert event's own JSON, as in schemas/jsonschema/AlertEvent.schema.json.

alertmanager: Prometheus Alertmanager's v2 ``POST /api/v2/alerts`` body, a JSON
list of alerts. Labels (which identify an alert to Alertmanager) are
``alertname=FleetcastServerRisk``, ``severity``, ``server_id``, ``profile`` and
``metric``; annotations carry ``summary``, ``risk_score``, ``alert_id``,
``model_version`` and ``predicted_breach_at``. ``firing`` sets ``startsAt`` (the
alert's ``issued_at``), ``resolved`` sets ``endsAt``.

A fleetcast alert keeps its ``alert_id`` while its severity changes; to
Alertmanager a new severity is a new label set. So the mapper remembers the
labels it last sent as firing for each open ``alert_id``: a change of severity
(or metric) ends the old label set and starts the new one, and ``resolved``
ends the label set that is actually firing. Open alerts are re-sent
periodically (``open_alerts``), as Alertmanager expects of its clients,
so they do not time out while fleetcast, which emits only changes, is quiet.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from schemas.alert import AlertEvent

ALERTNAME: Final = "FleetcastServerRisk"
AmAlert = dict[str, Any]


def webhook_body(alert: AlertEvent) -> bytes:
    return alert.to_bytes()


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def alertmanager_alert(
    alert: AlertEvent, *, starts_at: datetime, ends_at: datetime | None = None
) -> AmAlert:
    """One Alertmanager alert for an alert event."""
    labels = {"alertname": ALERTNAME, "severity": alert.severity, "server_id": alert.server_id,
              "profile": alert.profile, "metric": alert.metric or ""}
    annotations = {"summary": alert.summary, "risk_score": f"{alert.risk_score:g}",
                   "alert_id": alert.alert_id, "model_version": alert.model_version}
    if alert.predicted_breach_at is not None:
        annotations["predicted_breach_at"] = _rfc3339(alert.predicted_breach_at)
    body: AmAlert = {"labels": labels, "annotations": annotations,
                     "startsAt": _rfc3339(starts_at)}
    if ends_at is not None:
        body["endsAt"] = _rfc3339(ends_at)
    return body


class AlertmanagerMapper:
    """Alert events to Alertmanager alerts, ending the label sets that stop firing."""

    def __init__(self) -> None:
        self._firing: dict[str, AmAlert] = {}  # alert_id -> the alert last sent as firing

    def alerts_for(self, alert: AlertEvent) -> list[AmAlert]:
        """What to post for one event; call ``sent`` once it is delivered (or given up)."""
        previous = self._firing.get(alert.alert_id)
        ended = _rfc3339(alert.issued_at)
        if alert.status == "resolved":
            if previous is not None:
                return [{**previous, "endsAt": ended}]
            # Opened before this forwarder started: its firing labels are unknown here.
            return [alertmanager_alert(alert, starts_at=alert.issued_at, ends_at=alert.issued_at)]
        current = alertmanager_alert(alert, starts_at=alert.issued_at)
        if previous is None:
            return [current]
        if previous["labels"] == current["labels"]:
            return [{**current, "startsAt": previous["startsAt"]}]
        return [{**previous, "endsAt": ended}, current]

    def sent(self, alert: AlertEvent, alerts: list[AmAlert]) -> None:
        if alert.status == "resolved":
            self._firing.pop(alert.alert_id, None)
        else:
            self._firing[alert.alert_id] = alerts[-1]

    def open_alerts(self) -> list[AmAlert]:
        """Every alert still firing, for the periodic re-send."""
        return list(self._firing.values())


def encode(alerts: list[AmAlert]) -> bytes:
    return json.dumps(alerts).encode()
