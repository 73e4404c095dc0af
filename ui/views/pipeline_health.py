"""Pipeline health: consumer lag per topic, events and windows per second, inference latency,
and whether each stage is running (as ``/health`` judges it)."""

from __future__ import annotations

import time

import pandas as pd
import panel as pn

from core.settings import Settings
from ui.feed import FleetFeed
from ui.pipeline_monitor import PipelineMonitor, Snapshot, percentile
from ui.views.common import Context, Redraw, html_pane, kpi

LAG_COLUMNS = ["consumer group", "is", "topic", "messages written", "committed", "lag"]
#: Inference latencies older than this are not shown.
LATENCY_WINDOW_S = 60.0


def rates_html(snapshot: Snapshot, settings: Settings, feed: FleetFeed | None) -> str:
    def per_second(topic: str) -> str:
        value = snapshot.rates.get(topic)
        return "measuring" if value is None else f"{value:,.1f}/s"

    cards = [
        kpi(per_second(settings.topic_metrics), "metric events in"),
        kpi(per_second(settings.topic_windows), "context windows built"),
        kpi(per_second(settings.topic_forecasts), "forecasts published"),
        kpi(per_second(settings.topic_alerts), "alert events"),
    ]
    cards.extend(latency_cards(feed))
    cards.extend(stage_cards(snapshot))
    return f'<div class="fc-kpis">{"".join(cards)}</div>'


def stage_cards(snapshot: Snapshot) -> list[str]:
    """One card per stage: ok, waiting (its input grew, no output yet) or stopped, the same
    judgement as the API's ``/health`` (``degraded`` names a stopped stage)."""
    cards = []
    for stage in snapshot.stages:
        if stage.stalled:
            value, level = "stopped", "critical"
        elif stage.waiting_s is not None:
            value, level = "waiting", "warning"
        else:
            value, level = "ok", "healthy"
        detail = ("" if stage.waiting_s is None else
                  f": {stage.input_topic} grew, {stage.output_topic} not, for "
                  f"{stage.waiting_s:,.0f} s")
        cards.append(kpi(value, f"{stage.role} ({stage.stage}){detail}", level))
    return cards


def latency_cards(feed: FleetFeed | None) -> list[str]:
    if feed is None:
        return []
    cutoff = time.monotonic() - LATENCY_WINDOW_S
    recent = [ms for at, ms in list(feed.latencies) if at >= cutoff]
    p50, p95 = percentile(recent, 50), percentile(recent, 95)
    if p50 is None or p95 is None:
        return [kpi("-", "inference latency (no forecast in the last minute)")]
    return [kpi(f"{p50:,.0f} ms", "inference latency, median (last minute)"),
            kpi(f"{p95:,.0f} ms", "inference latency, 95th percentile")]


def lag_frame(snapshot: Snapshot) -> pd.DataFrame:
    return pd.DataFrame(
        [[lag.group, lag.role, lag.topic, lag.end,
          "none yet" if lag.committed is None else lag.committed,
          "-" if lag.lag is None else lag.lag] for lag in snapshot.lags],
        columns=LAG_COLUMNS,
    )


def versions_text(versions: dict[str, int]) -> str:
    if not versions:
        return "Model: no forecast yet."
    parts = [f"**{version}** ({count} server{'s' if count != 1 else ''})"
             for version, count in sorted(versions.items(), key=lambda item: -item[1])]
    return "Model version of the latest forecasts: " + ", ".join(parts)


class PipelineView(Redraw):
    title = "Pipeline"
    #: Redrawn on a timer too: the cluster moves even when the fleet view does not.
    periodic = True

    def __init__(self, context: Context, monitor: PipelineMonitor | None = None) -> None:
        self.context = context
        self.monitor = monitor
        self.rates = html_pane()
        self.lags = pn.widgets.Tabulator(pd.DataFrame(columns=LAG_COLUMNS), show_index=False,
                                         disabled=True, sizing_mode="stretch_width")
        self.model = pn.pane.Markdown()
        self.note = pn.pane.Markdown(styles={"color": "#555"})
        self.layout = pn.Column(
            self.rates, "### Consumer lag (messages written but not yet committed)", self.lags,
            self.model, self.note, sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        context = self.context
        if self.monitor is None:  # started on first use: no admin traffic until someone looks
            self.monitor = context.services.monitor()
        snapshot = self.monitor.snapshot()
        self.rates.object = rates_html(snapshot, context.settings, context.feed)
        self.lags.value = lag_frame(snapshot)
        self.model.object = versions_text(context.state.model_versions())
        feed = context.feed
        parts = []
        if snapshot.sampled_at is not None:
            parts.append(f"Sampled at {snapshot.sampled_at:%H:%M:%S} UTC.")
        if snapshot.error:
            parts.append(f"Last sample failed: {snapshot.error}")
        if feed is not None:
            parts.append(f"This dashboard has read {feed.applied:,} messages "
                         f"({feed.undecodable} undecodable).")
        parts.append("Inference latency: from a batch's start to its forecast reaching Kafka.")
        self.note.object = " ".join(parts)
