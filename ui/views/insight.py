"""Model insight: why the TFT forecasts what it does for a chosen server's latest window.

Pressing *Explain* fetches the server's latest context window from the
windows topic and asks the network for its interpretation (see ``ui.insight``);
both run on a worker thread and the page draws the result on its next tick.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LinearAxis, Range1d
from bokeh.plotting import figure

from schemas.common import METRICS
from ui.views.common import Context, Redraw, sync_servers

log = logging.getLogger(__name__)

NAMES = {
    "value": "the metric's own past values", "tod_sin": "time of day (sine)",
    "tod_cos": "time of day (cosine)", "dow_sin": "day of week (sine)",
    "dow_cos": "day of week (cosine)", "relative_time_idx": "position in time",
    "metric": "which metric it is", "profile": "the server's profile",
    "encoder_length": "how much history there is", "value_center": "the series' level",
    "value_scale": "the series' spread",
}


def importance_figure(title: str, shares: dict[str, float]) -> Any:
    names = [NAMES.get(name, name) for name in shares][::-1]
    source = ColumnDataSource({"name": names, "share": [100 * s for s in shares.values()][::-1]})
    chart = figure(y_range=FactorRange(factors=names), height=60 + 26 * len(names),
                   sizing_mode="stretch_width", title=title, toolbar_location=None, tools="",
                   x_axis_label="% of the weight")
    chart.hbar(y="name", right="share", height=0.7, source=source, color="#1565c0")
    return chart


def attention_figure(explanation: Any) -> Any:
    chart = figure(height=260, sizing_mode="stretch_width", x_axis_type="datetime",
                   title=f"Attention over the 24 h context ({explanation.metric}): where the "
                   "model looked", toolbar_location=None, tools="")
    tops = [100 * a for a in explanation.attention]
    chart.y_range = Range1d(start=0, end=1.1 * max(tops, default=1.0) or 1.0)
    chart.vbar(x=explanation.attention_times, top=tops, width=240_000, color="#ef6c00",
               legend_label="attention (%)")
    chart.yaxis.axis_label = "attention (%)"
    finite = [v for v in explanation.values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    margin = 0.05 * (high - low + 1)
    chart.extra_y_ranges = {"value": Range1d(start=low - margin, end=high + margin)}
    chart.add_layout(LinearAxis(y_range_name="value", axis_label=explanation.metric), "right")
    chart.line(explanation.attention_times, explanation.values, y_range_name="value",
               color="#1565c0", legend_label=f"{explanation.metric} (context)")
    chart.legend.location = "top_left"
    return chart


class InsightView(Redraw):
    title = "Model insight"

    def __init__(self, context: Context) -> None:
        self.context = context
        self.server = pn.widgets.Select(label="Server", options=[], width=220)
        self.metric = pn.widgets.Select(label="Metric (default: the driving one)",
                                        options=["driving metric", *METRICS], width=240)
        self.button = pn.widgets.Button(label="Explain the latest forecast", color="primary")
        self.button.on_click(lambda _: self.start())
        self.status = pn.pane.Alert(
            "Pick a server and press Explain. The first use loads the model into the "
            "dashboard (a few seconds).", alert_type="light")
        self.charts = pn.Column(sizing_mode="stretch_width")
        self._server_ids: list[str] = []
        self._result: Any = None
        self._drawn: Any = None
        self._busy = threading.Lock()
        self.layout = pn.Column(pn.Row(self.server, self.metric, self.button), self.status,
                                self.charts, sizing_mode="stretch_width")

    def start(self) -> None:
        """Explain on a worker thread; the page draws the result when it is there."""
        if not self.server.value or not self._busy.acquire(blocking=False):
            return
        self.status.object = f"Explaining the latest forecast of {self.server.value}..."
        self.status.alert_type = "info"
        threading.Thread(target=self._explain, args=(self.server.value, self.metric.value),
                         daemon=True).start()

    def _explain(self, server_id: str, metric: str) -> None:
        from ui.insight import explain
        from ui.windows_lookup import find_window

        settings = self.context.settings
        try:
            forecast = self.context.state.forecast(server_id)
            if forecast is None:
                raise ValueError(f"no forecast for {server_id} yet")
            if metric == "driving metric":
                metric = forecast.risk_metric or METRICS[0]
            window = find_window(settings, server_id, forecast.start, forecast.issued_at)
            if window is None:
                raise ValueError(f"the context window of {server_id} was not found on "
                                 f"{settings.topic_windows}")
            self._result = explain(self.context.services.model(settings.model_path), window, metric)
        except Exception as exc:
            log.warning("no explanation for %s: %s", server_id, exc)
            self._result = exc
        finally:
            self._busy.release()
            self.dirty = True

    def refresh(self) -> None:
        self._server_ids = sync_servers(self.server, self.context.state, self._server_ids)
        result = self._result
        if result is None or result is self._drawn:
            return
        self._drawn = result
        if isinstance(result, Exception):
            self.status.object = f"No explanation: {result}"
            self.status.alert_type = "warning"
            return
        self.status.object = (
            f"Why model **{result.model_version}** forecasts **{result.metric}** of "
            f"**{result.server_id}** as it does, from the window ending "
            f"{result.window_end:%d %b %H:%M} UTC. Bars: how much weight the network's variable "
            "selection gives each input. Attention: which past steps it drew on."
        )
        self.status.alert_type = "success"
        self.charts.objects = [
            pn.pane.Bokeh(attention_figure(result), sizing_mode="stretch_width"),
            pn.Row(
                pn.pane.Bokeh(importance_figure("Inputs from the past 24 h", result.encoder),
                              sizing_mode="stretch_width"),
                pn.pane.Bokeh(importance_figure("Known future inputs (next 8 h)",
                                                result.decoder), sizing_mode="stretch_width"),
                pn.pane.Bokeh(importance_figure("What the series is", result.static),
                              sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            ),
        ]
