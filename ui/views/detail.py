"""Server detail: per metric the last 24 h and the 8 h forecast fan, against the thresholds.

The charts are built once per session and only their data sources change on
a refresh, so a redraw sends numbers, not figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import panel as pn
from bokeh.models import ColumnDataSource, Range1d
from bokeh.models.annotations import BoxAnnotation, Span, Title
from bokeh.plotting import figure

from schemas.common import METRICS
from schemas.context_window import ContextWindow
from schemas.forecast import Forecast
from schemas.severity import SEVERITIES
from schemas.thresholds import thresholds_for
from ui.context_cache import ContextCache
from ui.fleet_state import FleetState
from ui.risk import format_probability
from ui.theme import SEVERITY_SWATCHES, swatch
from ui.views.common import (
    Context,
    Redraw,
    badge,
    breach_text,
    html_pane,
    label,
    number,
    sync_servers,
)

LABELS = {
    "cpu_pct": "CPU %", "mem_pct": "Memory %", "disk_pct": "Disk %",
    "net_in_mbps": "Network in (Mbit/s)", "net_out_mbps": "Network out (Mbit/s)",
    "latency_ms": "Latency (ms)", "error_rate": "Error rate",
}
_LOWEST_RISK = {"healthy": 0, "watch": 30, "degrading": 50, "warning": 60, "danger": 70,
                "critical": 80, "imminent_failure": 90}
_EMPTY: dict[str, list[Any]] = {"x": [], "y": []}
KEY = (
    '<div class="fc-bar"><b>How to read the charts:</b> '
    '<span style="color:#1565c0">&#9472;&#9472; the last 24 h</span> '
    '<span style="background:#90caf9;padding:0 6px">forecast band p10-p90</span> '
    '<span style="color:#0d47a1">- - forecast median (p50)</span> '
    f'<span style="color:{swatch("warning").strong}">&middot;&middot;&middot; warning</span> '
    f'<span style="color:{swatch("critical").strong}">&middot;&middot;&middot; critical</span> '
    '<span style="color:#616161">| now</span>'
    '<span class="fc-note">(a threshold far above the data is named in the title '
    "only)</span></div>"
)


def fan(forecast: Forecast | None, metric: str) -> dict[str, list[Any]]:
    """The forecast's p10/p50/p90 of ``metric`` against time (empty without quantiles)."""
    if forecast is None or metric not in forecast.quantiles:
        return {"x": [], "p10": [], "p50": [], "p90": []}
    q = forecast.quantiles[metric]
    step = timedelta(seconds=forecast.step_seconds)
    x = [forecast.start + h * step for h in range(len(q.p50))]
    return {"x": x, "p10": q.p10, "p50": q.p50, "p90": q.p90}


def summary_html(row: dict[str, Any] | None, forecast: Forecast | None) -> str:
    if row is None or forecast is None:
        return "<p>No forecast for this server yet.</p>"
    level = "warming_up" if row["status"] == "warming_up" else row["severity"]
    parts = [badge(label(level), level), f"<b>risk {row['risk_score']:.0f}</b>"]
    if row["status"] == "warming_up":
        parts.append(
            f"history {row['context_steps']} of the {row['min_context_steps']} steps the model "
            "needs: the risk comes from current values only until then"
        )
    if row["risk_metric"]:
        parts.append(f"driven by {row['risk_metric']} = {number(row['risk_value'])}")
    if row["predicted_breach_at"]:
        parts.append(f"critical predicted {breach_text(row)}")
    parts.append(f"incident within 30 min {format_probability(row['p_30m'])}, "
                 f"within 8 h {format_probability(row['p_8h'])}")
    parts.append(f'<span class="fc-note">forecast from {forecast.start:%d %b %H:%M} UTC, '
                 f"model {forecast.model_version}, profile {forecast.profile}</span>")
    return f'<div class="fc-bar">{" &middot; ".join(parts)}</div>'


def context_lines(window: ContextWindow | None) -> tuple[list[datetime], dict[str, np.ndarray]]:
    """The window the model saw, step by step (NaN: a gap); empty until it is fetched."""
    if window is None:
        return [], {name: np.array([]) for name in METRICS}
    times = [window.step_start(i) for i in range(window.steps)]
    return times, {name: np.array([np.nan if v is None else v for v in window.values[name]],
                                  dtype=np.float64) for name in METRICS}


def outlook_html(forecast: Forecast | None) -> str:
    """Per metric, the worker's chance of reaching critical and when: the model's expectation."""
    if forecast is None or not forecast.breach:
        return ""
    rows = []
    ranked = sorted(forecast.breach.items(), key=lambda item: -item[1].p_8h)
    for metric, outlook in ranked:
        when = f"{outlook.breach_at:%H:%M} UTC" if outlook.breach_at is not None else "-"
        rows.append(f"<tr><td>{LABELS.get(metric, metric)}</td>"
                    f"<td>{number(outlook.threshold)}</td>"
                    f"<td>{format_probability(outlook.p_30m)}</td>"
                    f"<td>{format_probability(outlook.p_8h)}</td><td>{when}</td></tr>")
    return ('<table class="fc-table"><tr><th>metric</th><th>critical at</th>'
            "<th>chance within 30 min</th><th>within 8 h</th><th>expected breach</th></tr>"
            f"{''.join(rows)}</table>")


class MetricChart:
    """One metric: history line, forecast fan, warning and critical lines, a 'now' marker."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.history = ColumnDataSource(dict(_EMPTY))
        self.forecast = ColumnDataSource({"x": [], "p10": [], "p50": [], "p90": []})
        self.figure = figure(
            height=210, sizing_mode="stretch_width", x_axis_type="datetime",
            title=LABELS[metric], toolbar_location=None, tools="",
        )
        self.figure.line("x", "y", source=self.history, color="#1565c0", line_width=1.5)
        self.figure.varea("x", "p10", "p90", source=self.forecast, color="#90caf9", alpha=0.6)
        self.figure.line("x", "p50", source=self.forecast, color="#0d47a1", line_dash="dashed",
                         line_width=1.5)
        self.warning = Span(dimension="width", line_color=swatch("warning").strong,
                            line_dash="dotted", line_width=2)
        self.critical = Span(dimension="width", line_color=swatch("critical").strong,
                             line_dash="dotted", line_width=2)
        self.now = Span(dimension="height", line_color="#616161", line_width=1)
        self.figure.add_layout(self.warning)
        self.figure.add_layout(self.critical)
        self.figure.add_layout(self.now)

    def update(self, profile: str, times: list[datetime], values: np.ndarray,
               forecast: Forecast | None) -> None:
        limits = thresholds_for(profile)[self.metric]
        title = self.figure.title
        assert isinstance(title, Title)
        title.text = (
            f"{LABELS[self.metric]}  (warning {number(limits.warning)}, "
            f"critical {number(limits.critical)})"
        )
        self.warning.location = limits.warning
        self.critical.location = limits.critical
        self.now.location = forecast.start if forecast is not None else None
        self.history.data = {"x": times, "y": values}
        self.forecast.data = fan(forecast, self.metric)


class RiskChart:
    """The server's risk over 24 h on bands coloured by severity: its severity history."""

    def __init__(self) -> None:
        self.source = ColumnDataSource(dict(_EMPTY))
        self.figure = figure(
            height=200, sizing_mode="stretch_width", x_axis_type="datetime",
            y_range=Range1d(start=0, end=100),
            title="Severity history: risk score over the last 24 h", toolbar_location=None,
            tools="",
        )
        bounds = [*(_LOWEST_RISK[level] for level in SEVERITIES), 100]
        for i, level in enumerate(SEVERITIES):
            self.figure.add_layout(BoxAnnotation(
                bottom=bounds[i], top=bounds[i + 1],
                fill_color=SEVERITY_SWATCHES[level].strong, fill_alpha=0.15,
            ))
        self.figure.step("x", "y", source=self.source, mode="after", color="#212121",
                         line_width=2)
        self.figure.yaxis.axis_label = "risk (bands: severity)"

    def update(self, points: list[dict[str, Any]]) -> None:
        self.source.data = {
            "x": [datetime.fromisoformat(p["start"]) for p in points],
            "y": [p["risk_score"] for p in points],
        }


def severity_changes(points: list[dict[str, Any]]) -> str:
    """'12:05 healthy -> 12:35 warning -> ...': the severity history in words."""
    changes, last = [], None
    for point in points:
        if point["severity"] != last:
            last = point["severity"]
            changes.append(f"{datetime.fromisoformat(point['start']):%H:%M} {label(last)}")
    return " &rarr; ".join(changes[-8:])


class DetailView(Redraw):
    title = "Server detail"

    def __init__(self, context: Context) -> None:
        self.state: FleetState = context.state
        self.context_windows = ContextCache(context.services.find_window, on_ready=self.request)
        self.server = pn.widgets.Select(label="Server", options=[], width=220)
        self.summary = html_pane()
        self.outlook = html_pane()
        self.changes = html_pane()
        self.charts = {metric: MetricChart(metric) for metric in METRICS}
        self.risk = RiskChart()
        self._server_ids: list[str] = []
        self.server.param.watch(self.request, "value")
        self.layout = pn.Column(
            self.server,
            self.summary,
            self.outlook,
            pn.pane.Bokeh(self.risk.figure, sizing_mode="stretch_width"),
            self.changes,
            html_pane(object=KEY),
            pn.GridBox(
                *(pn.pane.Bokeh(chart.figure, sizing_mode="stretch_width")
                  for chart in self.charts.values()),
                ncols=2, sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )

    def show(self, server_id: str) -> None:
        self._server_ids = sync_servers(self.server, self.state, self._server_ids)
        self.server.value = server_id

    def refresh(self) -> None:
        self._server_ids = sync_servers(self.server, self.state, self._server_ids)
        server_id = self.server.value
        if not server_id:
            self.summary.object = summary_html(None, None)
            return
        forecast = self.state.forecast(server_id)
        row = next((r for r in self.state.fleet() if r["server_id"] == server_id), None)
        self.summary.object = summary_html(row, forecast)
        self.outlook.object = outlook_html(forecast)
        points = self.state.history(server_id)
        self.risk.update(points)
        self.changes.object = (f'<span class="fc-note">Severity changes: '
                               f"{severity_changes(points)}</span>")
        times, values = context_lines(
            self.context_windows.window_for(forecast) if forecast is not None else None)
        profile = forecast.profile if forecast is not None else "generic"
        for metric, chart in self.charts.items():
            chart.update(profile, times, values[metric], forecast)

