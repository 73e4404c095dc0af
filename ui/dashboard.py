"""The operator dashboard (Panel): fleet table, severity summary, alerts and scenario control.

Every browser session gets its own page (``create_page``) over the one
process-wide ``FleetState``; a 500 ms periodic callback redraws a page only
when the state's ``version`` moved, so idle sessions cost next to nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandas as pd
import panel as pn
from confluent_kafka import KafkaException, Producer

from fleetcast.control import ControlNotDeliveredError, publish_scenario
from fleetcast.settings import Settings
from schemas.control_event import SCENARIOS
from schemas.severity import SEVERITIES, Severity
from ui.fleet_state import FleetState, shared_feed
from ui.shared import shared_producer
from ui.theme import NEUTRAL, label, swatch

log = logging.getLogger(__name__)

REFRESH_MS = 500
WHOLE_FLEET = "whole fleet"
#: Redraw callbacks and button presses run on this many threads, so a slow
#: broker holding up a command's flush does not freeze every other session.
CALLBACK_THREADS = 4

#: Display columns; ``level`` is hidden and only drives the row colours.
FLEET_COLUMNS = ["server", "profile", "severity", "risk", "metric", "predicted breach", "level"]
ALERT_COLUMNS = ["issued", "server", "status", "severity", "risk", "metric", "summary", "level"]
ALERT_ROWS = 100

_CSS = """
.fc-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 13px; }
.fc-badge { border-radius: 12px; padding: 3px 10px; font-weight: 600; white-space: nowrap; }
.fc-firing { margin-left: 12px; font-weight: 700; }
"""

# -- pure formatting --------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def _timestamp(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(UTC):%d %b %H:%M} UTC"


def _breach_text(row: dict[str, Any]) -> str:
    if row["predicted_breach_at"] is None:
        return ""
    return f"{_timestamp(row['predicted_breach_at'])} (in {_duration(row['breach_in_s'])})"


def _severity_text(row: dict[str, Any]) -> str:
    if row["status"] == "warming_up":
        return f"warming up ({row['context_steps']}/{row['min_context_steps']})"
    return label(row["severity"])


def fleet_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The fleet table's data from ``FleetState.fleet()`` rows, order kept."""
    return pd.DataFrame(
        [
            [
                row["server_id"], row["profile"], _severity_text(row), round(row["risk_score"], 1),
                row["risk_metric"] or "", _breach_text(row),
                "warming_up" if row["status"] == "warming_up" else row["severity"],
            ]
            for row in rows
        ],
        columns=FLEET_COLUMNS,
    )


def alerts_frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The alerts table's data from ``FleetState.alerts()`` rows; resolved ones are grey."""
    return pd.DataFrame(
        [
            [
                _timestamp(row["issued_at"]), row["server_id"], row["status"],
                label(row["severity"]), round(row["risk_score"], 1), row["metric"] or "",
                row["summary"], row["severity"] if row["status"] == "firing" else "resolved",
            ]
            for row in rows
        ],
        columns=ALERT_COLUMNS,
    )


def _badge(text: str, level: str) -> str:
    colours = swatch(level)
    return (
        f'<span class="fc-badge" style="background:{colours.strong};color:{colours.text}">'
        f"{text}</span>"
    )


def summary_html(counts: Mapping[Severity, int], warming_up: int, firing: int) -> str:
    """Servers per severity as coloured badges, least to most severe, then firing alerts."""
    badges = [_badge(f"{label(level)} {counts.get(level, 0)}", level) for level in SEVERITIES]
    if warming_up:
        badges.append(_badge(f"warming up {warming_up}", "warming_up"))
    firing_colour = swatch("critical").strong if firing else NEUTRAL.strong
    badges.append(
        f'<span class="fc-firing" style="color:{firing_colour}">'
        f"{firing} firing alert{'s' if firing != 1 else ''}</span>"
    )
    return f'<div class="fc-bar">{"".join(badges)}</div>'


def _row_style(row: pd.Series) -> list[str]:
    # Whole row in the level's tint, the severity cell in its full colour.
    colours = swatch(row["level"])
    return [
        f"background-color: {colours.strong}; color: {colours.text}"
        if column == "severity" else f"background-color: {colours.tint}"
        for column in row.index
    ]


def _table(columns: list[str], page_size: int) -> pn.widgets.Tabulator:
    table = pn.widgets.Tabulator(
        pd.DataFrame(columns=columns),
        show_index=False,
        hidden_columns=["level"],
        disabled=True,  # read-only view
        # Remote pagination sends one page to the browser, not the whole fleet.
        pagination="remote",
        page_size=page_size,
        layout="fit_data_stretch",
        sizing_mode="stretch_width",
    )
    # ``style`` is None only without pandas' Styler (jinja2), a packaging error.
    assert table.style is not None, "Tabulator styling needs jinja2"
    table.style.apply(_row_style, axis=1)
    return table


# -- the page ---------------------------------------------------------------------------------


class FleetPage:
    """The widgets of one session's page and the callbacks that keep them current."""

    def __init__(
        self, state: FleetState, settings: Settings, producer: Producer | None = None
    ) -> None:
        self.state = state
        self.settings = settings
        self._producer = producer
        self._drawn_version = -1
        self._server_ids: list[str] = []

        self.summary = pn.pane.HTML(stylesheets=[_CSS], sizing_mode="stretch_width")
        self.table = _table(FLEET_COLUMNS, page_size=25)
        self.alerts_table = _table(ALERT_COLUMNS, page_size=10)
        self.target = pn.widgets.Select(label="Target", options={WHOLE_FLEET: ""}, value="")
        self.buttons = {
            scenario: pn.widgets.Button(
                label=label(scenario), color="success" if scenario == "healthy" else "default"
            )
            for scenario in SCENARIOS
        }
        for scenario, button in self.buttons.items():
            button.on_click(partial(self._on_button, scenario))
        self.last_command = pn.pane.Alert("No command sent yet.", alert_type="light")

        self.layout = pn.Column(
            pn.pane.Markdown("# fleetcast", margin=(0, 10)),
            self.summary,
            pn.Row(
                pn.Column("### Fleet", self.table, sizing_mode="stretch_width"),
                pn.Column(
                    "### Scenario",
                    self.target,
                    pn.FlexBox(*self.buttons.values()),
                    self.last_command,
                    width=380,
                ),
                sizing_mode="stretch_width",
            ),
            "### Alerts",
            self.alerts_table,
            sizing_mode="stretch_width",
        )
        self.refresh()

    @property
    def drawn_version(self) -> int:
        """The state version on screen."""
        return self._drawn_version

    def refresh(self) -> None:
        """Redraw if the state changed since the last draw."""
        # Read the version before the data: a change racing with this draw
        # leaves the version ahead of what was drawn, so the next tick redraws.
        version = self.state.version
        if version == self._drawn_version:
            return
        self._drawn_version = version
        self.summary.object = summary_html(
            self.state.severity_counts(), self.state.warming_up_count(), self.state.firing_count()
        )
        self.table.value = fleet_frame(self.state.fleet())
        self.alerts_table.value = alerts_frame(self.state.alerts(limit=ALERT_ROWS))
        self._refresh_targets()

    def _refresh_targets(self) -> None:
        server_ids = self.state.server_ids()
        if server_ids != self._server_ids:  # resending the options would reset an open dropdown
            self._server_ids = server_ids
            self.target.options = {WHOLE_FLEET: "", **{sid: sid for sid in server_ids}}

    def send(self, scenario: str) -> None:
        """Publish ``scenario`` for the selected target and report the outcome on the page."""
        servers = [self.target.value] if self.target.value else []
        target = ", ".join(servers) or WHOLE_FLEET
        try:
            producer = self._producer or shared_producer(self.settings)
            publish_scenario(self.settings, producer, scenario, servers)
        except (ValueError, KafkaException, BufferError, ControlNotDeliveredError) as exc:
            log.warning("scenario %s for %s not sent: %s", scenario, target, exc)
            self.last_command.object = f"Could not send **{label(scenario)}** to {target}: {exc}"
            self.last_command.alert_type = "danger"
            return
        sent_at = datetime.now(UTC)
        self.last_command.object = (
            f"Last command: **{label(scenario)}** to {target} at {sent_at:%H:%M:%S} UTC"
        )
        self.last_command.alert_type = "success"

    def _on_button(self, scenario: str, _event: object) -> None:
        self.send(scenario)


def create_page(
    state: FleetState, settings: Settings, producer: Producer | None = None
) -> pn.viewable.Viewable:
    """One session's page; refreshes itself while served, is static otherwise (tests)."""
    page = FleetPage(state, settings, producer)
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        # Tied to the session: Panel stops it when the browser tab goes away.
        pn.state.add_periodic_callback(page.refresh, period=REFRESH_MS)
    return page.layout


def serve(settings: Settings) -> None:
    """Serve the dashboard on ``ui_host:ui_port`` until interrupted, fed by the shared feed.

    Behind a proxy or on a public address set ``BOKEH_ALLOW_WS_ORIGIN`` to the
    host name browsers use; only the configured address and localhost are allowed here.
    """
    feed = shared_feed(settings).start()
    pn.extension("tabulator", nthreads=CALLBACK_THREADS)
    port = settings.ui_port
    origins = sorted({f"{settings.ui_host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})

    # A plain function, not a functools.partial: Panel only calls functions,
    # and would render a partial's repr as the page.
    def session_page() -> pn.viewable.Viewable:
        return create_page(feed.state, settings)

    pn.serve(
        {"/": session_page},
        port=port,
        address=settings.ui_host,
        websocket_origin=origins,
        show=False,
        threaded=False,
        title="fleetcast",
    )
