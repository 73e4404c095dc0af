"""The Panel page built outside a server: contents, redraws, and the scenario buttons."""

from __future__ import annotations

from datetime import timedelta

import panel as pn
import pytest

from fleetcast.settings import Settings
from schemas.control_event import SCENARIOS, ControlEvent
from schemas.severity import SEVERITIES
from tests.helpers import TopicReader
from tests.ui.factories import make_alert, make_forecast
from ui.dashboard import FleetPage, create_page, fleet_frame, summary_html
from ui.fleet_state import FleetState
from ui.theme import NEUTRAL, SEVERITY_SWATCHES


@pytest.fixture
def state() -> FleetState:
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001", 20.0))
    state.apply_forecast(make_forecast("ppweb001", 93.0, breach_in=timedelta(hours=1, minutes=5)))
    state.apply_forecast(make_forecast("ppml0001", 0.0, status="warming_up", context_steps=12))
    state.apply_alert(make_alert("ppweb001", severity="imminent_failure", risk=93.0))
    return state


@pytest.fixture
def offline_settings() -> Settings:
    return Settings(topic_control="control")


def test_create_page_builds_with_one_row_per_server(
    state: FleetState, offline_settings: Settings
) -> None:
    page = create_page(state, offline_settings)

    assert isinstance(page, pn.viewable.Viewable)
    fleet_table, alerts_table = page.select(pn.widgets.Tabulator)
    assert list(fleet_table.value["server"]) == ["ppweb001", "ppdb001", "ppml0001"]
    assert len(alerts_table.value) == 1
    buttons = page.select(pn.widgets.Button)
    assert len(buttons) == len(SCENARIOS)
    page.get_root()  # renders to Bokeh models without a server


def test_fleet_rows_show_severity_breach_and_warm_up(state: FleetState) -> None:
    frame = fleet_frame(state.fleet()).set_index("server")

    assert frame.loc["ppweb001", "severity"] == "imminent failure"
    assert frame.loc["ppweb001", "predicted breach"] == "06 Jan 13:05 UTC (in 1h 05m)"
    assert frame.loc["ppdb001", "predicted breach"] == ""
    assert frame.loc["ppml0001", "severity"] == "warming up (12/36)"
    assert frame.loc["ppml0001", "level"] == "warming_up"


def test_rows_are_coloured_by_severity(state: FleetState, offline_settings: Settings) -> None:
    page = FleetPage(state, offline_settings)

    # Tabulator's computed cell styles: {row: {column: [(property, value), ...]}}
    styles = page.table._get_style_data()["data"]

    assert len(styles) == 3
    top_row = [dict(cell) for cell in styles[0].values()]  # highest risk first
    imminent = SEVERITY_SWATCHES["imminent_failure"]
    assert {"background-color": imminent.strong, "color": imminent.text} in top_row
    assert {"background-color": imminent.tint} in top_row
    warming_row = [dict(cell) for cell in styles[2].values()]
    assert {"background-color": NEUTRAL.tint} in warming_row


def test_every_severity_has_a_distinct_colour_in_order() -> None:
    assert list(SEVERITY_SWATCHES) == list(SEVERITIES)
    strong = [swatch.strong for swatch in SEVERITY_SWATCHES.values()]
    assert len(set(strong)) == len(strong)
    assert NEUTRAL.strong not in strong


def test_summary_shows_every_level_in_order_and_firing_count(state: FleetState) -> None:
    html = summary_html(state.severity_counts(), state.warming_up_count(), state.firing_count())

    positions = [html.index(level.replace("_", " ")) for level in SEVERITIES]
    assert positions == sorted(positions)
    assert "imminent failure 1" in html
    assert "warming up 1" in html
    assert "1 firing alert<" in html


def test_refresh_redraws_only_when_the_state_changed(
    state: FleetState, offline_settings: Settings
) -> None:
    page = FleetPage(state, offline_settings)
    drawn = page.table.value

    page.refresh()
    assert page.table.value is drawn

    state.apply_forecast(make_forecast("ppdi001", 55.0))
    page.refresh()

    assert page.drawn_version == state.version
    assert len(page.table.value) == 4
    assert "ppdi001" in page.target.options.values()


@pytest.mark.broker
def test_scenario_button_publishes_a_control_event(state: FleetState, settings: Settings) -> None:
    reader = TopicReader(settings, settings.topic_control)
    try:
        page = FleetPage(state, settings)
        page.target.value = "ppdb001"

        page.buttons["memory_leak"].clicks += 1

        messages = reader.wait_for(lambda ms: len(ms) >= 1, timeout_s=15)
        event = ControlEvent.model_validate_json(messages[0].value())
        assert (event.scenario, event.servers) == ("memory_leak", ["ppdb001"])
        assert "memory leak" in page.last_command.object
        assert page.last_command.alert_type == "success"

        page.target.value = ""
        page.buttons["healthy"].clicks += 1
        messages = reader.wait_for(lambda ms: len(ms) >= 2, timeout_s=15)
        assert ControlEvent.model_validate_json(messages[1].value()).servers == []
        assert "whole fleet" in page.last_command.object
    finally:
        reader.close()
