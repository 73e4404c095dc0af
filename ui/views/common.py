"""What every view shares: the view interface, text formatting, badges and tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import panel as pn

from core.settings import Settings
from ui.feed import FleetFeed
from ui.fleet_state import FleetState
from ui.services import UiServices
from ui.theme import label, swatch

if TYPE_CHECKING:
    from ui.views.view_model import ViewModels

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
    #: The view model every session of the process shares (see ``ui.views.view_model``).
    models: ViewModels
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

#: A shared frame that differs from the one a session shows in at most this many cells is
#: patched in; more are sent whole. Patching costs the server a pandas assignment per cell
#: (about 0.15 ms here) and the browser an update of those cells; a new value about 4 ms
#: and a redraw of the whole table.
PATCH_CELLS = 12


def cell_styles(level: str, columns: Sequence[str]) -> list[list[tuple[str, str]]]:
    """The CSS of each cell of a row at ``level``: the row in the level's tint, the severity
    cell in its full colour."""
    colours = swatch(level)
    return [
        [("background-color", colours.strong), ("color", colours.text)]
        if column == "severity" else [("background-color", colours.tint)]
        for column in columns
    ]


@dataclass(frozen=True, eq=False)
class TableFrame:
    """A table's rows as every session shows them at one tick, built once for all of them.

    ``changes`` are the cells (column -> [(row, value)]) in which it differs from the frame
    numbered ``base`` (the previous tick's), so a session showing that one patches them in;
    None when the two are not the same shape. Serials are unique per ``ViewModels``.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    serial: int = 0
    base: int | None = None
    changes: dict[str, list[tuple[int, Any]]] | None = None

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (shared: a table is given a copy, which patches change)."""
        return pd.DataFrame(list(self.rows), columns=list(self.columns))

    @cached_property
    def changed_cells(self) -> int:
        return sum(len(cells) for cells in (self.changes or {}).values())

    def successor(self, rows: Sequence[tuple[Any, ...]], serial: int) -> TableFrame:
        """The frame of the next tick: this one when nothing changed, else frame ``serial``
        with the cells that changed."""
        rows = tuple(rows)
        if rows == self.rows:
            return self
        changes: dict[str, list[tuple[int, Any]]] | None = None
        if len(rows) == len(self.rows):
            changes = {}
            for j, column in enumerate(self.columns):
                cells = [(i, new[j]) for i, (old, new) in enumerate(zip(self.rows, rows,
                                                                         strict=True))
                         if old[j] != new[j]]
                if cells:
                    changes[column] = cells
        return TableFrame(self.columns, rows, serial, self.serial, changes)


class LevelTable(pn.widgets.Tabulator):
    """A read-only Tabulator coloured by its hidden ``level`` column.

    Panel colours cells through a pandas Styler that it recomputes, and resends whole, on
    every change of the value: about 5 ms a table, for every session, under a busy fleet.
    The colours depend on nothing but the levels of the rows on the page, so they are made
    from those and resent only when those change; a shared ``TableFrame`` is shown by
    patching the cells that changed when they are few.
    """

    # Plain attributes, not parameters; class defaults, as Panel styles during __init__.
    _styled: tuple[Any, ...] | None = None
    _shown: TableFrame | None = None

    def _page(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The columns and the levels of the rows on the page now (empty without rows)."""
        data = self._processed
        if not isinstance(data, pd.DataFrame) or data.empty or "level" not in data.columns:
            return (), ()
        levels = data["level"]
        if self.pagination == "remote":
            size = self.page_size or self.initial_page_size
            levels = levels.iloc[(self.page - 1) * size:self.page * size]
        return tuple(data.columns), tuple(levels)

    def _get_style_data(self, recompute: bool = True) -> dict[str, Any]:
        # Panel's cell_styles: {"id", "data": {row on the page: {column: [(property, value)]}}},
        # columns counted after Tabulator's own leading one (and the index when it is shown).
        columns, levels = self._page()
        if not levels:
            return {}
        offset = 1 + int(len(self.indexes) == 1)
        return {"id": uuid.uuid4().hex, "data": {
            row: {offset + c: css for c, css in enumerate(cell_styles(level, columns))}
            for row, level in enumerate(levels)
        }}

    def _update_style(self, recompute: bool = True) -> None:
        key = (self.page, *self._page())
        if key == self._styled:
            return
        self._styled = key
        super()._update_style(recompute)

    def show_frame(self, frame: TableFrame) -> None:
        """Show a shared frame: nothing when it is on screen already, its changed cells when
        it follows the one on screen (same levels, few cells, first page, unsorted), else a
        copy of it whole."""
        shown, self._shown = self._shown, frame
        if frame is shown:
            return
        if (shown is not None and frame.base == shown.serial and frame.changes is not None
                and "level" not in frame.changes and frame.changed_cells <= PATCH_CELLS
                and self.page == 1 and not self.sorters and not self.filters):
            self.patch(frame.changes, as_index=False)
        else:
            self.value = frame.frame.copy()


def table(columns: list[str], page_size: int, **kwargs: Any) -> LevelTable:
    """A read-only table coloured by its hidden ``level`` column, paginated on the server."""
    return LevelTable(
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


ALERT_COLUMNS = ["issued", "server", "profile", "status", "severity", "risk", "metric",
                 "summary", "level"]


def alert_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Alert rows (``FleetState.alerts()``) as table cells; resolved ones are grey."""
    return [
        (
            timestamp(row["issued_at"]), row["server_id"], row["profile"], row["status"],
            label(row["severity"]), round(row["risk_score"], 1), row["metric"] or "",
            row["summary"], row["severity"] if row["status"] == "firing" else "resolved",
        )
        for row in rows
    ]


def alerts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Alert rows (``FleetState.alerts()``) for a table; resolved ones are grey."""
    return pd.DataFrame(alert_rows(rows), columns=ALERT_COLUMNS)
