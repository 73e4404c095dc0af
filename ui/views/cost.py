"""Cost avoidance (incidents warned ahead x cost per incident) and runbook hints per alert kind."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import panel as pn

from schemas.severity import rank
from ui.remediation import Runbooks, cost_summary, hints, load_runbooks
from ui.views.common import Context, Redraw, badge, html_pane, kpi, label


def cost_html(summary: Any) -> str:
    cards = [
        kpi(str(summary.incidents), "incidents (alerts that reached danger or worse)"),
        kpi(str(summary.warned), "warned ahead of the predicted breach"),
        kpi(f"{summary.warning_hours:,.1f} h", "total warning ahead "
            f"(mean {summary.mean_warning_hours:,.1f} h)"),
        kpi(f"{summary.avoided:,.0f}", "estimated cost avoided", "healthy"),
    ]
    formula = (
        f"<p><b>Formula:</b> cost avoided = incidents warned ahead &times; cost per incident = "
        f"{summary.warned} &times; {summary.cost_per_incident:,.0f} = "
        f"<b>{summary.avoided:,.0f}</b>. An incident counts as warned ahead when one of its "
        "alerts predicted the breach while it was still in the future; the warning is the "
        "longest such lead (in the forecast's time). Cost per incident is set by "
        "FLEETCAST_UI_COST_PER_INCIDENT; try another value here.</p>"
    )
    return f'<div class="fc-kpis">{"".join(cards)}</div>{formula}'


def runbook_html(firing: list[dict[str, Any]], books: Runbooks) -> str:
    """One block per (alert kind, profile) among the firing alerts, worst first."""
    if not firing:
        return "<p>No alert is firing: nothing to do.</p>"
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in firing:
        groups[(row["metric"] or "unknown", row["profile"])].append(row)
    blocks = []
    for (kind, profile), rows in sorted(
        groups.items(), key=lambda item: -max(rank(r["severity"]) for r in item[1])
    ):
        worst = max(rows, key=lambda r: rank(r["severity"]))["severity"]
        servers = ", ".join(sorted(r["server_id"] for r in rows)[:12])
        actions = "".join(f"<li>{a}</li>" for a in hints(books, kind, profile)) or \
            "<li>No runbook for this kind yet.</li>"
        blocks.append(
            f"<div style='margin-bottom:10px'>{badge(label(worst), worst)} "
            f"<b>{kind}</b> on {label(profile)}: {servers}<ul>{actions}</ul></div>"
        )
    return "".join(blocks)


class CostView(Redraw):
    title = "Cost & remediation"

    def __init__(self, context: Context) -> None:
        self.state = context.state
        settings = context.settings
        self.books = load_runbooks(settings.ui_runbooks)
        self.cost = pn.widgets.FloatInput(label="Cost per incident", start=0, step=1000,
                                          value=settings.ui_cost_per_incident, width=200)
        self.summary = html_pane()
        self.runbooks = html_pane()
        self.cost.param.watch(self.request, "value")
        self.layout = pn.Column(
            "### Cost avoidance", self.cost, self.summary,
            "### Runbook hints for the firing alerts (read-only)", self.runbooks,
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        self.summary.object = cost_html(cost_summary(self.state.episodes(), self.cost.value or 0))
        self.runbooks.object = runbook_html(self.state.alerts(status="firing"), self.books)
