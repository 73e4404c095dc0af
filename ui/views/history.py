"""History: the fleet's severity counts and risk over the last 24 h, and one server's severity."""

from __future__ import annotations

from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, Range1d
from bokeh.plotting import figure

from schemas.severity import SEVERITIES
from ui.theme import SEVERITY_SWATCHES
from ui.views.common import Context, Redraw, label, sync_servers
from ui.views.detail import RiskChart


def counts_data(points: list[dict[str, Any]]) -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = {"x": [p["start"] for p in points]}
    for level in SEVERITIES:
        data[level] = [p["counts"][level] for p in points]
    data["mean_risk"] = [p["mean_risk"] for p in points]
    data["max_risk"] = [p["max_risk"] for p in points]
    data["p_8h"] = [100 * p["p_8h"] for p in points]
    return data


class HistoryView(Redraw):
    title = "History"

    def __init__(self, context: Context) -> None:
        self.state = context.state
        self.source = ColumnDataSource(counts_data([]))
        self.counts = figure(height=260, sizing_mode="stretch_width", x_axis_type="datetime",
                             title="Servers per severity, last 24 h", toolbar_location=None,
                             tools="")
        self.counts.varea_stack(
            list(SEVERITIES), x="x", source=self.source,
            color=[SEVERITY_SWATCHES[s].strong for s in SEVERITIES],
            legend_label=[label(s) for s in SEVERITIES],
        )
        self.counts.legend.location = "top_left"
        self.counts.legend.orientation = "horizontal"
        self.counts.yaxis.axis_label = "servers"
        self.risk = figure(height=220, sizing_mode="stretch_width", x_axis_type="datetime",
                           y_range=Range1d(start=0, end=100), title="Fleet risk, last 24 h",
                           toolbar_location=None, tools="")
        self.risk.line("x", "max_risk", source=self.source, color="#c62828", line_width=2,
                       legend_label="highest server risk")
        self.risk.line("x", "mean_risk", source=self.source, color="#1565c0", line_width=2,
                       legend_label="mean server risk")
        self.risk.line("x", "p_8h", source=self.source, color="#6a1b9a", line_dash="dashed",
                       legend_label="chance of an incident within 8 h (%)")
        self.risk.yaxis.axis_label = "risk score / %"
        self.risk.legend.location = "top_left"
        self.server = pn.widgets.Select(label="Server", options=[], width=220)
        self.server_risk = RiskChart()
        self._server_ids: list[str] = []
        self.server.param.watch(self.request, "value")
        self.layout = pn.Column(
            pn.pane.Bokeh(self.counts, sizing_mode="stretch_width"),
            pn.pane.Bokeh(self.risk, sizing_mode="stretch_width"),
            "### One server's severity over time",
            self.server,
            pn.pane.Bokeh(self.server_risk.figure, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        self.source.data = counts_data(self.state.fleet_history())
        self._server_ids = sync_servers(self.server, self.state, self._server_ids)
        self._refresh_server()

    def _refresh_server(self) -> None:
        if self.server.value:
            self.server_risk.update(self.state.history(self.server.value))
