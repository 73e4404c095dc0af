"""The dashboard's shared view model: what every session shows of the fleet, built once a tick.

Each session's page used to build its own header, KPI cards, tables and tiles from the
``FleetState`` on each of its ticks: with 20 sessions on a busy fleet, the same pandas
frames twenty times over. ``ViewModels.advance`` (called once per tick by the dashboard's
one ``SessionTicker``) starts a ``FleetViewModel`` for the state's version; its parts are
built on first use, once, and every session's views read them. A table's part is a
``TableFrame`` that knows the cells in which it differs from the previous tick's, so a
session patches those instead of redrawing the table.

Everything here runs on the server's event loop (the ticker and the pages' draws), or in a
test's one thread.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any

from core import telemetry
from ui.fleet_state import FleetState
from ui.views.common import ALERT_COLUMNS, TableFrame, alert_rows
from ui.views.heatmap import tiles
from ui.views.overview import ALERT_ROWS, TOP_ROWS, header_html, important_alerts, kpis_html
from ui.views.top import COLUMNS, ROWS, top_rows


class FleetViewModel:
    """The fleet as every session shows it at one ``version`` of the state; each part is
    built on first use and then shared (treat them as read-only)."""

    def __init__(self, state: FleetState, version: int, previous: dict[str, TableFrame],
                 built: Counter[str], serials: Iterator[int]) -> None:
        self.state = state
        self.version = version
        #: When its tick began (monotonic): the start of its way to the screens.
        self.created = time.monotonic()
        #: The newest frame of each table so far, for the cells that changed since; this
        #: model's replace them as they are built.
        self.tables = dict(previous)
        self._built = built
        self._serials = serials

    def _part(self, name: str, build: Callable[[], Any]) -> Any:
        with telemetry.UI_VIEW_MODEL.time():
            value = build()
        self._built[name] += 1
        return value

    def _table(self, name: str, columns: Sequence[str],
               rows: Callable[[], list[Any]]) -> TableFrame:
        built = self._part(name, rows)
        previous = self.tables.get(name)
        frame = (previous.successor(built, next(self._serials)) if previous is not None
                 else TableFrame(tuple(columns), tuple(built), next(self._serials)))
        self.tables[name] = frame
        return frame

    @cached_property
    def header(self) -> str:
        """Servers per severity and the firing alerts (every page's header)."""
        return str(self._part("header", lambda: header_html(self.state)))

    @cached_property
    def kpis(self) -> str:
        return str(self._part("kpis", lambda: kpis_html(self.state)))

    @cached_property
    def important_alerts(self) -> TableFrame:
        """The overview's firing alerts, most severe first."""
        return self._table("important_alerts", ALERT_COLUMNS,
                           lambda: alert_rows(important_alerts(self.state, ALERT_ROWS)))

    @cached_property
    def top(self) -> TableFrame:
        """The overview's servers most at risk."""
        return self._table("top", COLUMNS, lambda: top_rows(self.state.fleet()[:TOP_ROWS]))

    @cached_property
    def ranking(self) -> TableFrame:
        """The top-servers view's ranking."""
        return self._table("ranking", COLUMNS, lambda: top_rows(self.state.fleet()[:ROWS]))

    @cached_property
    def tiles(self) -> list[dict[str, Any]]:
        """The heatmap's tiles."""
        return list(self._part("tiles", lambda: tiles(self.state.fleet())))


class ViewModels:
    """The view model of a process's current tick, shared by all its sessions."""

    def __init__(self, state: FleetState) -> None:
        self.state = state
        #: Parts built so far, by name (what the tests count).
        self.built: Counter[str] = Counter()
        self._serials = itertools.count()
        self._model: FleetViewModel | None = None

    def advance(self) -> FleetViewModel:
        """Start a tick: a new model when the state moved since the last one (its parts still
        to be built), else the same one."""
        version = self.state.version
        model = self._model
        if model is None or model.version != version:
            # Only the tables (one frame each): the new model must not keep the old one, and
            # with it every one before, alive.
            previous = dict(model.tables) if model is not None else {}
            model = self._model = FleetViewModel(self.state, version, previous, self.built,
                                                 self._serials)
        return model

    def latest(self) -> FleetViewModel:
        """The model of the current tick (the first one built on first use)."""
        return self._model if self._model is not None else self.advance()
