"""The shared view model: one build per tick for every session, and tables patched, not redrawn."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import panel as pn
import pytest

from core.settings import Settings
from tests.ui.factories import make_alert, make_forecast
from ui.dashboard import ACK_TIMEOUT_S, FleetPage, SessionTicker
from ui.fleet_state import FleetState
from ui.services import UiServices
from ui.theme import swatch
from ui.views.common import LevelTable, TableFrame, cell_styles, table
from ui.views.top import COLUMNS
from ui.views.view_model import ViewModels

SESSIONS = 5


@pytest.fixture
def state() -> FleetState:
    state = FleetState()
    for i, risk in enumerate([20.0, 50.0, 93.0]):
        state.apply_forecast(make_forecast(f"ppdb00{i + 1}", risk))
    return state


def pages_on(state: FleetState, ticker: SessionTicker, count: int,
             schedule: Callable[[Callable[[], None]], object]) -> list[FleetPage]:
    services = UiServices(Settings(topic_control="control"), state=state)
    pages = [FleetPage(services, ticker.models) for _ in range(count)]
    for page in pages:
        ticker.add(page, schedule)
    return pages


def test_sessions_share_one_view_model_per_tick(state: FleetState) -> None:
    ticker = SessionTicker(ViewModels(state))
    pages = pages_on(state, ticker, SESSIONS, lambda draw: draw())
    built = ticker.models.built
    assert built["top"] == built["header"] == 1  # the first page built them, the rest shared

    state.apply_forecast(make_forecast("ppdb001", 97.0, step=1))
    assert ticker.tick() == SESSIONS

    assert built["top"] == built["header"] == built["kpis"] == 2
    frames = {id(page.overview.top._shown) for page in pages}
    assert len(frames) == 1  # every session shows the one frame
    assert all("imminent failure 2" in page.header.object for page in pages)
    assert all(page.overview.top.value["server"][0] == "ppdb001" for page in pages)

    assert ticker.tick() == 0  # nothing moved: nothing built, nothing drawn
    assert built["top"] == 2


def test_a_page_gets_no_second_draw_while_one_is_pending(state: FleetState) -> None:
    ticker = SessionTicker(ViewModels(state))
    queued: list[Callable[[], None]] = []
    [page] = pages_on(state, ticker, 1, queued.append)

    state.apply_forecast(make_forecast("ppdb001", 60.0, step=1))
    ticker.tick()
    state.apply_forecast(make_forecast("ppdb002", 10.0, step=1))
    ticker.tick()
    assert len(queued) == 1 and page.pending  # the event loop is behind: one draw waits

    queued.pop()()
    assert not page.pending
    assert ticker.tick() == 0  # drawn an older model, but the browser has not applied it yet
    page.ack._handle_msg({"ack": page.ack.sent})
    assert ticker.tick() == 1  # applied: the page is behind again, and gets the newest
    ticker.discard(page)
    state.apply_forecast(make_forecast("ppdb003", 10.0, step=1))
    assert ticker.tick() == 0  # a session that ended is not drawn


def test_a_browser_that_does_not_confirm_gets_a_redraw_after_the_timeout(
    state: FleetState,
) -> None:
    ticker = SessionTicker(ViewModels(state))
    [page] = pages_on(state, ticker, 1, lambda draw: draw())
    state.apply_forecast(make_forecast("ppdb001", 60.0, step=1))
    assert ticker.tick() == 1
    sent_at = page.unconfirmed_since
    assert sent_at is not None and page.ack.sent == 1

    state.apply_forecast(make_forecast("ppdb001", 70.0, step=2))
    assert ticker.tick(now=sent_at + ACK_TIMEOUT_S / 2) == 0
    assert ticker.tick(now=sent_at + ACK_TIMEOUT_S) == 1
    assert page.ack.sent == 2


def test_the_view_model_follows_alerts(state: FleetState) -> None:
    models = ViewModels(state)
    assert models.latest().important_alerts.rows == ()
    state.apply_alert(make_alert("ppdb003", severity="imminent_failure", risk=93.0))

    rows = models.advance().important_alerts.rows

    assert [row[1] for row in rows] == ["ppdb003"]
    assert "1 firing alert<" in models.latest().header


ROWS = (("a", 1.0, "healthy"), ("b", 2.0, "warning"))


def test_a_frame_knows_the_cells_that_changed() -> None:
    first = TableFrame(("server", "risk", "level"), ROWS, serial=1)
    assert first.successor(ROWS, serial=2) is first

    moved = first.successor((("a", 1.0, "healthy"), ("b", 3.5, "warning")), serial=2)
    assert (moved.base, moved.changes, moved.changed_cells) == (1, {"risk": [(1, 3.5)]}, 1)
    assert first.successor(ROWS[:1], serial=3).changes is None  # another shape


def frames(*rows: tuple[tuple[object, ...], ...]) -> list[TableFrame]:
    chain = [TableFrame(("server", "risk", "level"), rows[0], serial=0)]
    for serial, next_rows in enumerate(rows[1:], start=1):
        chain.append(chain[-1].successor(next_rows, serial))
    return chain


def test_a_table_patches_few_changed_cells_and_redraws_otherwise() -> None:
    widget = table(["server", "risk", "level"], page_size=10)
    first, value_changed, level_changed = frames(
        ROWS, (("a", 1.0, "healthy"), ("b", 3.5, "warning")),
        (("a", 1.0, "critical"), ("b", 3.5, "warning")))

    widget.show_frame(first)
    drawn = widget.value
    widget.show_frame(value_changed)
    assert widget.value is drawn  # patched in place
    assert widget.value["risk"].tolist() == [1.0, 3.5]
    assert first.frame["risk"].tolist() == [1.0, 2.0]  # the shared frame is untouched

    widget.show_frame(level_changed)  # the colours move: the whole table
    assert widget.value is not drawn
    assert widget.value["level"].tolist() == ["critical", "warning"]


def test_a_table_that_missed_a_tick_is_redrawn_whole() -> None:
    widget = table(["server", "risk", "level"], page_size=10)
    first, _second, third = frames(ROWS, (("a", 1.5, "healthy"), ROWS[1]),
                                  (("a", 1.7, "healthy"), ROWS[1]))
    widget.show_frame(first)
    drawn = widget.value
    widget.show_frame(third)  # its changes are relative to the second, not on this screen

    assert widget.value is not drawn
    assert widget.value["risk"].tolist() == [1.7, 2.0]


def test_level_styles_equal_what_panels_styler_computes() -> None:
    frame = pd.DataFrame([["a", "healthy", 1.0, "healthy"], ["b", "critical", 9.0, "critical"],
                          ["c", "warming up", 0.0, "warming_up"]],
                         columns=["server", "severity", "risk", "level"])
    options = dict(show_index=False, hidden_columns=["level"], disabled=True,
                   pagination="remote", page_size=2)
    ours = LevelTable(frame, **options)
    panels = pn.widgets.Tabulator(frame, **options)
    assert panels.style is not None
    panels.style.apply(lambda row: [";".join(f"{k}: {v}" for k, v in css)
                                    for css in cell_styles(row["level"], list(row.index))],
                       axis=1)

    for page in (1, 2):
        ours.page = panels.page = page
        assert ours._get_style_data()["data"] == panels._get_style_data()["data"]
    assert ours._get_style_data()["data"][0][2] == [
        ("background-color", swatch("warming_up").strong), ("color", "#ffffff")]


def test_the_top_table_is_drawn_from_the_shared_ranking(state: FleetState) -> None:
    ticker = SessionTicker(ViewModels(state))
    [page] = pages_on(state, ticker, 1, lambda draw: draw())
    page.tabs.active = page.views.index(page.top)
    page.refresh()

    assert page.top.table.value.columns.tolist() == COLUMNS
    assert page.top.table.value["server"].tolist() == ["ppdb003", "ppdb002", "ppdb001"]
    assert page.top.table._shown is ticker.models.latest().ranking
