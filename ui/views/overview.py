"""Overview: the fleet's health at a glance, and the alerts and servers that matter most."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import panel as pn

from schemas.severity import SEVERITIES, Severity, rank
from ui.fleet_state import FleetState
from ui.risk import format_probability
from ui.theme import NEUTRAL, swatch
from ui.views.common import (
    ALERT_COLUMNS,
    Context,
    Redraw,
    badge,
    html_pane,
    kpi,
    label,
    table,
)
from ui.views.top import COLUMNS

TOP_ROWS = 10
ALERT_ROWS = 10


def summary_html(counts: Mapping[Severity, int], warming_up: int, firing: int) -> str:
    """Servers per severity as coloured badges, least to most severe, then firing alerts."""
    badges = [badge(f"{label(level)} {counts.get(level, 0)}", level) for level in SEVERITIES]
    if warming_up:
        badges.append(badge(f"warming up {warming_up}", "warming_up"))
    firing_colour = swatch("critical").strong if firing else NEUTRAL.strong
    badges.append(
        f'<span class="fc-firing" style="color:{firing_colour}">'
        f"{firing} firing alert{'s' if firing != 1 else ''}</span>"
    )
    return f'<div class="fc-bar">{"".join(badges)}</div>'


def header_html(state: FleetState) -> str:
    return summary_html(state.severity_counts(), state.warming_up_count(), state.firing_count())


def kpis_html(state: FleetState) -> str:
    counts = state.severity_counts()
    at_risk = sum(n for level, n in counts.items() if rank(level) >= rank("warning"))
    chances = state.incident_chances()
    firing = state.firing_count()
    worst = next((level for level in reversed(SEVERITIES) if counts[level]), "healthy")
    cards = [
        kpi(str(state.server_count()), "servers reporting"),
        kpi(str(at_risk), "servers at warning or worse", worst if at_risk else None),
        kpi(str(firing), "firing alerts", "critical" if firing else None),
        kpi(format_probability(chances["p_30m"]), "chance of an incident within 30 min",
            "critical" if chances["p_30m"] >= 0.5 else None),
        kpi(format_probability(chances["p_8h"]), "chance of an incident within 8 h",
            "warning" if chances["p_8h"] >= 0.5 else None),
        kpi(str(state.warming_up_count()), "servers warming up (not enough history yet)"),
    ]
    return f'<div class="fc-kpis">{"".join(cards)}</div>'


def important_alerts(state: FleetState, limit: int) -> list[dict[str, Any]]:
    """Firing alerts, most severe first, then newest."""
    firing = state.alerts(status="firing")
    firing.sort(key=lambda row: (-rank(row["severity"]), -row["risk_score"]))
    return firing[:limit]


class OverviewView(Redraw):
    title = "Overview"

    def __init__(self, context: Context) -> None:
        self.models = context.models
        self.kpis = html_pane()
        self.alerts = table(ALERT_COLUMNS, page_size=ALERT_ROWS)
        self.top = table(COLUMNS, page_size=TOP_ROWS)
        self.layout = pn.Column(
            self.kpis,
            "### Alerts that matter most (firing, most severe first)",
            self.alerts,
            "### Servers most at risk",
            self.top,
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        model = self.models.latest()
        self.kpis.object = model.kpis
        self.alerts.show_frame(model.important_alerts)
        self.top.show_frame(model.top)
