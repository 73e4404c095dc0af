"""The Panel page built outside a server: every view's contents, redraws, and the buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import panel as pn
import pytest

from core.settings import Settings
from schemas.control_event import SCENARIOS, ControlEvent
from schemas.severity import SEVERITIES
from schemas.thresholds import thresholds_for
from tests.helpers import TopicReader
from tests.inference_worker.factories import make_window
from tests.ui.factories import T0, applied, make_alert, make_forecast, refused
from ui.context_cache import ContextCache
from ui.dashboard import FleetPage, create_page
from ui.fleet_state import FleetState
from ui.services import UiServices
from ui.theme import NEUTRAL, SEVERITY_SWATCHES
from ui.views.alerts import filter_alerts
from ui.views.detail import fan, severity_changes
from ui.views.guide import levels_html
from ui.views.heatmap import tiles
from ui.views.overview import important_alerts, summary_html
from ui.views.scenario import overrides_frame
from ui.views.top import top_frame


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


@pytest.fixture
def page(state: FleetState, offline_settings: Settings) -> FleetPage:
    return FleetPage(UiServices(offline_settings, state=state))


def test_create_page_has_every_view_and_renders(
    state: FleetState, offline_settings: Settings
) -> None:
    layout = create_page(UiServices(offline_settings, state=state))

    assert isinstance(layout, pn.viewable.Viewable)
    [tabs] = layout.select(pn.Tabs)
    assert list(tabs._names) == [
        "Overview", "Heatmap", "Top servers", "Server detail", "Alerts", "Scenarios",
        "Pipeline", "History", "Model insight", "Cost & remediation", "Guide",
    ]
    layout.get_root()  # renders to Bokeh models without a server


def test_every_view_draws_when_shown(page: FleetPage) -> None:
    for index, view in enumerate(page.views):
        if view is page.pipeline:
            continue  # needs a cluster to sample (tested with the broker)
        page.tabs.active = index
        page.refresh()
        assert not view.dirty, view.title


def test_top_rows_show_severity_reason_breach_and_warm_up(state: FleetState) -> None:
    frame = top_frame(state.fleet()).set_index("server")

    assert list(frame.index) == ["ppweb001", "ppdb001", "ppml0001"]  # highest risk first
    assert frame.loc["ppweb001", "severity"] == "imminent failure"
    assert frame.loc["ppweb001", "predicted breach"] == "06 Jan 13:05 UTC (in 1h 05m)"
    limits = thresholds_for("web_api")["cpu_pct"]
    assert frame.loc["ppweb001", "driving metric"] == "cpu_pct"
    assert frame.loc["ppweb001", "now"] == "50"
    assert frame.loc["ppweb001", "warning / critical"] == f"{limits.warning:.0f} / " \
        f"{limits.critical:.0f}"
    assert frame.loc["ppdb001", "predicted breach"] == ""
    assert frame.loc["ppml0001", "severity"] == "warming up (12/36)"
    assert frame.loc["ppml0001", "level"] == "warming_up"


def test_rows_are_coloured_by_severity(page: FleetPage) -> None:
    page.tabs.active = page.views.index(page.top)
    page.refresh()

    # Tabulator's computed cell styles: {row: {column: [(property, value), ...]}}
    styles = page.top.table._get_style_data()["data"]

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


def test_overview_puts_the_most_severe_firing_alerts_first(state: FleetState) -> None:
    state.apply_alert(make_alert("ppdb001", severity="warning", minute=5))

    rows = important_alerts(state, limit=10)

    assert [row["server_id"] for row in rows] == ["ppweb001", "ppdb001"]


def test_page_redraws_only_when_the_state_changed(page: FleetPage, state: FleetState) -> None:
    page.tabs.active = page.views.index(page.top)
    page.refresh()
    drawn = page.top.table.value

    page.refresh()
    assert page.top.table.value is drawn

    state.apply_forecast(make_forecast("ppdi001", 55.0))
    page.refresh()

    assert page.drawn_version == state.version
    assert len(page.top.table.value) == 4
    assert "degrading 1" in page.header.object


def test_views_off_screen_are_not_drawn(page: FleetPage, state: FleetState) -> None:
    page.tabs.active = page.views.index(page.overview)
    page.refresh()
    state.apply_forecast(make_forecast("ppdi001", 55.0))
    page.refresh()

    assert page.alerts.dirty  # never shown: still waiting for its first draw
    page.tabs.active = page.views.index(page.alerts)
    page.refresh()
    assert not page.alerts.dirty
    assert len(page.alerts.table.value) == 1


def test_heatmap_tiles_group_by_profile_and_show_warm_up_progress(state: FleetState) -> None:
    drawn = {tile["id"]: tile for tile in tiles(state.fleet())}

    assert [t["profile"] for t in drawn.values()] == ["database", "ml_compute", "web_api"]
    assert drawn["ppweb001"]["level"] == "imminent_failure"
    assert drawn["ppweb001"]["bg"] == SEVERITY_SWATCHES["imminent_failure"].strong
    assert drawn["ppml0001"]["level"] == "warming_up"
    assert drawn["ppml0001"]["progress"] == pytest.approx(12 / 36)
    assert drawn["ppml0001"]["text"] == "warming 33%"
    assert drawn["ppdb001"]["progress"] is None


def test_heatmap_click_opens_the_server_in_the_detail_view(page: FleetPage) -> None:
    page.tabs.active = page.views.index(page.heatmap)
    page.refresh()

    page.heatmap.grid._handle_msg({"server": "ppdb001"})

    assert page.tabs.active == page.views.index(page.detail)
    assert page.detail.server.value == "ppdb001"
    page.refresh()
    assert "risk 20" in page.detail.summary.object


def test_detail_draws_history_fan_and_the_profile_thresholds(
    page: FleetPage, state: FleetState
) -> None:
    for step in range(1, 4):
        state.apply_forecast(make_forecast("ppdb001", 20.0 + step, step=step))
    seen = make_window("ppdb001", observed=200)
    lookups: list[Callable[[], None]] = []  # the background lookups, run when the test says
    page.detail.context_windows = ContextCache(
        lambda server, end, issued: seen.model_copy(update={"end": end}),
        on_ready=page.detail.request, run=lookups.append)
    page.show_server("ppdb001")
    page.refresh()
    assert page.detail.charts["disk_pct"].history.data["x"] == []  # still being fetched
    lookups.pop()()  # the window arrives from the windows topic
    page.refresh()

    chart = page.detail.charts["disk_pct"]
    limits = thresholds_for("database")["disk_pct"]
    assert (chart.warning.location, chart.critical.location) == (limits.warning,
                                                                  limits.critical)
    assert len(chart.history.data["x"]) == seen.steps  # 24 h of steps, not 4 forecasts
    assert chart.history.data["x"][-1] == T0 + timedelta(minutes=10)  # the step before now
    assert np.isnan(chart.history.data["y"][0])  # the window's leading gap stays a gap
    assert chart.forecast.data["p90"] == [3.0] * 4
    assert chart.now.location == T0 + timedelta(minutes=15)
    assert len(page.detail.risk.source.data["y"]) == 4


def test_fan_and_severity_changes() -> None:
    forecast = make_forecast(risk=10.0)
    data = fan(forecast, "cpu_pct")
    assert data["x"][0] == forecast.start
    assert data["x"][1] - data["x"][0] == timedelta(minutes=5)
    assert fan(make_forecast(status="warming_up"), "cpu_pct")["x"] == []

    points = [{"start": (T0 + timedelta(minutes=m)).isoformat(), "severity": s}
              for m, s in [(0, "healthy"), (5, "healthy"), (10, "warning")]]
    assert severity_changes(points) == "12:00 healthy &rarr; 12:10 warning"


def test_alert_filters_by_severity_profile_and_server(state: FleetState) -> None:
    state.apply_alert(make_alert("ppdb001", severity="warning", minute=3))
    rows = state.alerts()

    assert [r["server_id"] for r in filter_alerts(rows, [], [], "")] == ["ppdb001", "ppweb001"]
    assert [r["server_id"] for r in filter_alerts(rows, ["warning"], [], "")] == ["ppdb001"]
    assert [r["server_id"] for r in filter_alerts(rows, [], ["web_api"], "")] == ["ppweb001"]
    assert [r["server_id"] for r in filter_alerts(rows, [], [], "WEB")] == ["ppweb001"]


def test_overrides_show_what_the_simulator_applied_and_refused(state: FleetState) -> None:
    state.apply_scenario(applied("ppdb001", "critical", "critical"), T0)
    state.apply_scenario(refused("degrading", "control event refused: unknown server(s)", 3), T0)

    text, frame = overrides_frame(state)

    assert "1 server(s) in a scenario" in text
    assert "Last refused: **degrading** for 3 server(s)" in text and "unknown server" in text
    assert frame.to_dict("records") == [
        {"server": "ppdb001", "scenario": "critical", "since": "12:00:00 UTC"}
    ]
    state.apply_scenario(applied("ppdb001", "recovery", "healthy"), T0)
    text, frame = overrides_frame(state)
    assert "0 server(s) in a scenario" in text
    assert frame.empty


def test_guide_explains_every_level() -> None:
    html = levels_html()
    for level, score in [("imminent failure", "90-100"), ("healthy", "0-29")]:
        assert level in html
        assert score in html


@pytest.mark.broker
def test_scenario_button_publishes_a_control_event(
    state: FleetState, make_settings, make_services
) -> None:
    settings: Settings = make_settings(api_token="operator-t0ken")
    reader = TopicReader(settings, settings.topic_control)
    try:
        page = FleetPage(make_services(settings, state))
        assert len(page.scenario.buttons) == len(SCENARIOS)
        page.tabs.active = page.views.index(page.scenario)
        page.refresh()
        page.scenario.target.value = "ppdb001"
        page.scenario.buttons["memory_leak"].clicks += 1  # no token typed: nothing sent
        assert "operator token is required" in page.scenario.last_command.object
        page.scenario.token.value = "not-the-token"
        page.scenario.buttons["memory_leak"].clicks += 1
        assert page.scenario.last_command.alert_type == "warning"
        assert reader.poll(2.0) == [], "a refused command is not published"

        assert settings.api_token is not None
        page.scenario.token.value = settings.api_token.get_secret_value()
        page.scenario.buttons["memory_leak"].clicks += 1

        messages = reader.wait_for(lambda ms: len(ms) >= 1, timeout_s=15)
        event = ControlEvent.model_validate_json(messages[0].value())
        assert (event.scenario, event.servers) == ("memory_leak", ["ppdb001"])
        assert "memory leak" in page.scenario.last_command.object
        assert page.scenario.last_command.alert_type == "success"

        page.scenario.target.value = ""
        page.scenario.buttons["healthy"].clicks += 1
        messages = reader.wait_for(lambda ms: len(ms) >= 2, timeout_s=15)
        assert ControlEvent.model_validate_json(messages[1].value()).servers == []
        assert "whole fleet" in page.scenario.last_command.object
    finally:
        reader.close()
