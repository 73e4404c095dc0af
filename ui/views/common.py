"""What every view shares: the view interface, text formatting, badges and tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd
import panel as pn

from core.settings import Settings
from ui.feed import FleetFeed
from ui.fleet_state import FleetState
from ui.services import UiServices
from ui.theme import label, swatch

__all__ = ["label"]

CSS = """
.fc-table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
.fc-table td, .fc-table th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
.fc-bar { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; font-size: 13px; }
.fc-badge { border-radius: 12px; padding: 3px 10px; font-weight: 600; white-space: nowrap; }
.fc-firing { margin-left: 12px; font-weight: 700; }
.fc-kpis { display: flex; flex-wrap: wrap; gap: 12px; }
.fc-kpi { border: 1px solid #ddd; border-radius: 8px; padding: 8px 14px; min-width: 150px; }
.fc-kpi .v { font-size: 26px; font-weight: 700; }
.fc-kpi .l { font-size: 12px; color: #555; }
.fc-note { color: #555; font-size: 12px; }
"""


@dataclass
class Context:
    """What a view reads from: the process's shared services (state, feed, producer,
    monitor, models) and the settings."""

    services: UiServices
    settings: Settings
    #: Opens a server in the detail view (set by the page).
    show_server: Callable[[str], None] | None = None

    @property
    def state(self) -> FleetState:
        return self.services.state

    @property
    def feed(self) -> FleetFeed | None:
        return self.services.feed


class View(Protocol):
    dirty: bool

    @property
    def title(self) -> str: ...

    @property
    def layout(self) -> pn.viewable.Viewable: ...

    def request(self, *_: object) -> None: ...

    def refresh(self) -> None:
        """Redraw from the state (called while the view is on screen and the state changed)."""


class Redraw:
    """Views redraw on the page's tick (on the server's event loop, where Bokeh models may be
    changed); a widget change or a finished background job only asks for a redraw."""

    dirty = True

    def request(self, *_: object) -> None:
        self.dirty = True


# -- text -------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def timestamp(iso: str | datetime) -> str:
    moment = datetime.fromisoformat(iso) if isinstance(iso, str) else iso
    return f"{moment.astimezone(UTC):%d %b %H:%M} UTC"


def breach_text(row: dict[str, Any]) -> str:
    if row["predicted_breach_at"] is None:
        return ""
    return f"{timestamp(row['predicted_breach_at'])} (in {duration(row['breach_in_s'])})"


def level_of(row: dict[str, Any]) -> str:
    """The colour key of a fleet row: its severity, or ``warming_up``."""
    return "warming_up" if row["status"] == "warming_up" else str(row["severity"])


def severity_text(row: dict[str, Any]) -> str:
    if row["status"] == "warming_up":
        return f"warming up ({row['context_steps']}/{row['min_context_steps']})"
    return label(row["severity"])


def number(value: float | None) -> str:
    """3 significant digits below 1, whole numbers without decimals, one decimal otherwise."""
    if value is None:
        return ""
    if abs(value) < 1:
        return f"{value:.3g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def sync_servers(select: pn.widgets.Select, state: FleetState, shown: list[str]) -> list[str]:
    """Keep a server picker's options current, returning what it shows now.

    Options are resent only when they change (resending closes an open dropdown);
    the first time, and when the chosen server vanished, the one most at risk is picked.
    """
    server_ids = state.server_ids()
    if server_ids != shown:
        select.options = server_ids
        if server_ids and (not shown or select.value not in server_ids):
            select.value = state.fleet()[0]["server_id"]
    return server_ids


# -- HTML ---------------------------------------------------------------------------------------


def badge(text: str, level: str) -> str:
    colours = swatch(level)
    return (
        f'<span class="fc-badge" style="background:{colours.strong};color:{colours.text}">'
        f"{text}</span>"
    )


def kpi(value: str, caption: str, level: str | None = None) -> str:
    colour = f' style="color:{swatch(level).strong}"' if level else ""
    return (f'<div class="fc-kpi"><div class="v"{colour}>{value}</div>'
            f'<div class="l">{caption}</div></div>')


def html_pane(**kwargs: Any) -> pn.pane.HTML:
    return pn.pane.HTML(stylesheets=[CSS], sizing_mode="stretch_width", **kwargs)


# -- tables -------------------------------------------------------------------------------------


def _row_style(row: pd.Series) -> list[str]:
    # Whole row in the level's tint, the severity cell in its full colour.
    colours = swatch(row["level"])
    return [
        f"background-color: {colours.strong}; color: {colours.text}"
        if column == "severity" else f"background-color: {colours.tint}"
        for column in row.index
    ]


def table(columns: list[str], page_size: int, **kwargs: Any) -> pn.widgets.Tabulator:
    """A read-only table coloured by its hidden ``level`` column, paginated on the server."""
    widget = pn.widgets.Tabulator(
        pd.DataFrame(columns=columns),
        show_index=False,
        hidden_columns=["level"],
        disabled=True,  # read-only view
        # Remote pagination sends one page to the browser, not the whole fleet.
        pagination="remote",
        page_size=page_size,
        layout="fit_data_stretch",
        sizing_mode="stretch_width",
        **kwargs,
    )
    # ``style`` is None only without pandas' Styler (jinja2), a packaging error.
    assert widget.style is not None, "Tabulator styling needs jinja2"
    widget.style.apply(_row_style, axis=1)
    return widget


ALERT_COLUMNS = ["issued", "server", "profile", "status", "severity", "risk", "metric",
                 "summary", "level"]


def alerts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Alert rows (``FleetState.alerts()``) for a table; resolved ones are grey."""
    return pd.DataFrame(
        [
            [
                timestamp(row["issued_at"]), row["server_id"], row["profile"], row["status"],
                label(row["severity"]), round(row["risk_score"], 1), row["metric"] or "",
                row["summary"], row["severity"] if row["status"] == "firing" else "resolved",
            ]
            for row in rows
        ],
        columns=ALERT_COLUMNS,
    )
