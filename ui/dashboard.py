"""The operator dashboard (Panel): one page per browser session, views as tabs.

Every session gets its own page (``FleetPage``) over the one process-wide
``FleetState``. A periodic callback on the server's event loop redraws the
header and the view on screen when the state's ``version`` moved (or the view
asked for it); views off screen are not drawn, so an idle session costs next
to nothing and a busy fleet costs each session one view.
"""

from __future__ import annotations

import logging
import time

import panel as pn

from core import telemetry
from core.settings import Settings
from ui.services import UiServices
from ui.views.alerts import AlertsView
from ui.views.common import CSS, Context, View
from ui.views.cost import CostView
from ui.views.detail import DetailView
from ui.views.guide import GuideView
from ui.views.heatmap import HeatmapView
from ui.views.history import HistoryView
from ui.views.insight import InsightView
from ui.views.overview import OverviewView, header_html
from ui.views.pipeline_health import PipelineView
from ui.views.scenario import ScenarioView
from ui.views.top import TopServersView

log = logging.getLogger(__name__)

#: How often a page checks for changes; with the feed's immediate polling a new forecast
#: is on screen well within a second.
REFRESH_MS = 300
#: Views that show the cluster (not the fleet) are redrawn this often regardless.
PERIODIC_S = 2.0
#: Button presses and background work run on this many threads, so a slow broker holding
#: up a command's flush does not freeze every other session.
CALLBACK_THREADS = 4


class FleetPage:
    """The views of one session's page and the callback that keeps them current."""

    def __init__(self, services: UiServices) -> None:
        self.state = services.state
        self.context = Context(services, services.settings, show_server=self.show_server)
        self.overview = OverviewView(self.context)
        self.heatmap = HeatmapView(self.context)
        self.top = TopServersView(self.context)
        self.detail = DetailView(self.context)
        self.alerts = AlertsView(self.context)
        self.scenario = ScenarioView(self.context)
        self.pipeline = PipelineView(self.context)
        self.history = HistoryView(self.context)
        self.insight = InsightView(self.context)
        self.cost = CostView(self.context)
        self.guide = GuideView(self.context)
        self.views: list[View] = [
            self.overview, self.heatmap, self.top, self.detail, self.alerts, self.scenario,
            self.pipeline, self.history, self.insight, self.cost, self.guide,
        ]
        self.header = pn.pane.HTML(stylesheets=[CSS], sizing_mode="stretch_width")
        self.tabs = pn.Tabs(*((view.title, view.layout) for view in self.views),
                            # Only the tab on screen is in the browser's document.
                            sizing_mode="stretch_width", dynamic=True)
        self.tabs.param.watch(self._on_tab, "active")
        self.layout = pn.Column(
            pn.Row(pn.pane.Markdown("## fleetcast", margin=(0, 10)), self.header,
                   sizing_mode="stretch_width"),
            self.tabs,
            sizing_mode="stretch_width",
        )
        self._drawn_version = -1
        self._view_versions = {id(view): -1 for view in self.views}
        self._periodic_at = 0.0
        self.refresh()

    @property
    def drawn_version(self) -> int:
        """The state version of the header on screen."""
        return self._drawn_version

    @property
    def active_view(self) -> View:
        return self.views[self.tabs.active]

    def show_server(self, server_id: str) -> None:
        """Open ``server_id`` in the detail view (a heatmap click)."""
        self.detail.show(server_id)
        self.detail.request()
        self.tabs.active = self.views.index(self.detail)

    def _on_tab(self, _: object) -> None:
        self.active_view.request()

    def refresh(self) -> None:
        """Redraw the header and the view on screen if anything changed since they were drawn."""
        # Read the version before the data: a change racing with this draw leaves the
        # version ahead of what was drawn, so the next tick redraws.
        version = self.state.version
        if version != self._drawn_version:
            self._drawn_version = version
            self.header.object = header_html(self.state)
        view = self.active_view
        now = time.monotonic()
        periodic = getattr(view, "periodic", False) and now - self._periodic_at >= PERIODIC_S
        if view.dirty or periodic or self._view_versions[id(view)] != version:
            self._view_versions[id(view)] = version
            if periodic:
                self._periodic_at = now
            view.refresh()
            # After the draw: picking a default server in it must not ask for another.
            view.dirty = False

    async def tick(self) -> None:
        # A coroutine, so Panel runs it on the event loop with the document locked
        # (Bokeh models may only change there), not on a callback thread.
        try:
            with telemetry.UI_TICK.time():
                self.refresh()
        except Exception:
            log.exception("page refresh failed")


def create_page(services: UiServices) -> pn.viewable.Viewable:
    """One session's page; refreshes itself while served, is static otherwise (tests)."""
    page = FleetPage(services)
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        # Tied to the session: Panel stops it when the browser tab goes away.
        # Panel accepts coroutine functions here; its annotation does not say so.
        pn.state.add_periodic_callback(page.tick, period=REFRESH_MS)  # type: ignore[arg-type]
    return page.layout


def serve(settings: Settings) -> None:
    """Serve the dashboard on ``ui_host:ui_port`` until interrupted, fed by the shared feed.

    Behind a proxy or on a public address set ``BOKEH_ALLOW_WS_ORIGIN`` to the
    host name browsers use; only the configured address and localhost are allowed here.
    """
    services = UiServices.from_kafka(settings)
    feed = services.feed
    assert feed is not None  # built from Kafka
    feed.start()
    telemetry.watch_feed("ui", feed)
    telemetry.serve_metrics(settings, "ui")  # Panel serves no /metrics: a port of its own
    services.monitor()  # started now, so that rates are there when the pipeline view opens
    pn.extension("tabulator", nthreads=CALLBACK_THREADS)
    port = settings.ui_port
    origins = sorted({f"{settings.ui_host}:{port}", f"localhost:{port}", f"127.0.0.1:{port}"})

    # A plain function, not a functools.partial: Panel only calls functions,
    # and would render a partial's repr as the page.
    def session_page() -> pn.viewable.Viewable:
        return create_page(services)

    pn.serve(
        {"/": session_page},
        port=port,
        address=settings.ui_host,
        websocket_origin=origins,
        show=False,
        threaded=False,
        title="fleetcast",
    )
