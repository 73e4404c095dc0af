"""Alerts: the live table of firing and resolved alerts, filtered by severity, profile, server."""

from __future__ import annotations

from typing import Any

import panel as pn

from schemas.profiles import PROFILES
from schemas.severity import SEVERITIES
from ui.views.common import ALERT_COLUMNS, Context, Redraw, alerts_frame, label, table

STATUSES = {"firing and resolved": None, "firing": "firing", "resolved": "resolved"}


def filter_alerts(
    rows: list[dict[str, Any]], severities: list[str], profiles: list[str], server: str
) -> list[dict[str, Any]]:
    """Rows whose severity and profile are among those chosen (none chosen: all), and whose
    server id contains ``server`` (case-insensitive)."""
    needle = server.strip().lower()
    return [
        row for row in rows
        if (not severities or row["severity"] in severities)
        and (not profiles or row["profile"] in profiles)
        and needle in row["server_id"].lower()
    ]


class AlertsView(Redraw):
    title = "Alerts"

    def __init__(self, context: Context) -> None:
        self.state = context.state
        self.status = pn.widgets.RadioButtonGroup(
            label="Status", options=list(STATUSES), value="firing and resolved",
        )
        self.severities = pn.widgets.MultiChoice(
            label="Severity", options={label(s): s for s in SEVERITIES}, width=320,
        )
        self.profiles = pn.widgets.MultiChoice(
            label="Profile", options={label(p): p for p in PROFILES}, width=320,
        )
        self.server = pn.widgets.TextInput(label="Server contains", width=180)
        self.count = pn.pane.Markdown()
        self.table = table(ALERT_COLUMNS, page_size=20)
        for widget in (self.status, self.severities, self.profiles, self.server):
            widget.param.watch(self.request, "value")
        self.layout = pn.Column(
            pn.Row(self.status, self.severities, self.profiles, self.server),
            self.count,
            self.table,
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        rows = filter_alerts(
            self.state.alerts(status=STATUSES[self.status.value]),  # type: ignore[arg-type]
            self.severities.value, self.profiles.value, self.server.value or "",
        )
        self.count.object = f"{len(rows)} alert(s); the latest event of each alert, newest first."
        self.table.value = alerts_frame(rows)
