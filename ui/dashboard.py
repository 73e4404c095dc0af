"""The operator dashboard (Panel): one page per browser session, views as tabs.

Every session gets its own page (``FleetPage``) over the one process-wide
``FleetState``. One timer for the whole process (``SessionTicker``) advances the
shared view model (``ui.views.view_model``) once a tick and schedules a redraw of
each page whose header or view on screen is behind it (or that asked for one) on
that page's own document; views off screen are not drawn. So an idle session costs
nothing, and a busy fleet costs one view model a tick plus, per session, the
changes to its widgets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial

import panel as pn
import param
from panel.custom import JSComponent
from tornado.ioloop import PeriodicCallback

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
from ui.views.overview import OverviewView
from ui.views.pipeline_health import PipelineView
from ui.views.scenario import ScenarioView
from ui.views.top import TopServersView
from ui.views.view_model import FleetViewModel, ViewModels

log = logging.getLogger(__name__)

#: How often the pages are brought up to date; with the feed's immediate polling a new
#: forecast is on screen well within a second.
REFRESH_MS = 300
#: Views that show the cluster (not the fleet) are redrawn this often regardless.
PERIODIC_S = 2.0
#: A page whose browser has not confirmed its last redraw gets no new one for this long: a
#: browser short of CPU is sent fresh state when it is ready, not a queue of stale redraws.
ACK_TIMEOUT_S = 2.0
#: Button presses and background work run on this many threads, so a slow broker holding
#: up a command's flush does not freeze every other session.
CALLBACK_THREADS = 4


class Ack(JSComponent):
    """Tells the server when the browser has applied a redraw: the server bumps ``sent``
    after each, and the browser answers once it has applied everything before it (Bokeh
    applies a session's changes in order)."""

    sent = param.Integer(default=0)

    _esm = """
    export function render({ model }) {
      model.on('sent', () => model.send_msg({ack: model.sent}));
    }
    """

    def __init__(self, **params: object) -> None:
        super().__init__(width=0, height=0, margin=0, **params)
        #: The last redraw the browser confirmed.
        self.acked = 0

    def _handle_msg(self, msg: object) -> None:
        if isinstance(msg, dict) and isinstance(msg.get("ack"), int):
            self.acked = max(self.acked, msg["ack"])


class FleetPage:
    """The views of one session's page and the callback that keeps them current."""

    def __init__(self, services: UiServices, models: ViewModels | None = None) -> None:
        self.state = services.state
        #: Shared with every other page of the process (a page of its own in tests).
        self.models = models if models is not None else ViewModels(services.state)
        self.context = Context(services, services.settings, self.models,
                               show_server=self.show_server)
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
        self.ack = Ack()
        self.layout = pn.Column(
            pn.Row(pn.pane.Markdown("## fleetcast", margin=(0, 10)), self.header, self.ack,
                   sizing_mode="stretch_width"),
            self.tabs,
            sizing_mode="stretch_width",
        )
        self._drawn_version = -1
        self._view_versions = {id(view): -1 for view in self.views}
        self._periodic_at = 0.0
        #: A draw is scheduled on this page's document and has not run yet.
        self.pending = False
        #: When the last served redraw went out (monotonic), until its browser confirms it.
        self.unconfirmed_since: float | None = None
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

    def _periodic_due(self, view: View, now: float) -> bool:
        return getattr(view, "periodic", False) and now - self._periodic_at >= PERIODIC_S

    def ready(self, now: float) -> bool:
        """No draw is waiting on the event loop, and the browser has confirmed the last one
        (or has not for ``ACK_TIMEOUT_S``)."""
        if self.pending:
            return False
        if self.unconfirmed_since is not None and self.ack.acked < self.ack.sent:
            return now - self.unconfirmed_since >= ACK_TIMEOUT_S
        return True

    def behind(self, model: FleetViewModel, now: float) -> bool:
        """Whether the header or the view on screen is behind ``model`` or wants a redraw."""
        view = self.active_view
        return (model.version != self._drawn_version or view.dirty
                or self._periodic_due(view, now) or self._view_versions[id(view)] != model.version)

    def refresh(self) -> None:
        """Advance the view model and draw (a page outside a server, as in the tests)."""
        self.draw(self.models.advance())

    def draw(self, model: FleetViewModel) -> bool:
        """Redraw the header and the view on screen if anything changed since they were drawn;
        returns whether anything was."""
        self.pending = False
        version = model.version
        drawn = version != self._drawn_version
        if drawn:
            self._drawn_version = version
            self.header.object = model.header
        view = self.active_view
        now = time.monotonic()
        periodic = self._periodic_due(view, now)
        if view.dirty or periodic or self._view_versions[id(view)] != version:
            drawn = True
            self._view_versions[id(view)] = version
            if periodic:
                self._periodic_at = now
            view.refresh()
            # After the draw: picking a default server in it must not ask for another.
            view.dirty = False
        return drawn

    def draw_scheduled(self, model: FleetViewModel) -> None:
        """``draw`` as a callback on this page's document (the ticker schedules it there, so
        Bokeh runs it on the event loop with the document locked)."""
        try:
            with telemetry.UI_TICK.time():
                if self.draw(model):
                    self.unconfirmed_since = time.monotonic()
                    self.ack.sent += 1  # after the redraw's changes: the browser's answer
        except Exception:
            log.exception("page refresh failed")
        telemetry.UI_DRAW_LAG.observe(time.monotonic() - model.created)


Schedule = Callable[[Callable[[], None]], object]


class SessionTicker:
    """The one timer of a process's pages: each ``tick`` advances the shared view model once
    and schedules a draw of every page behind it, on that page's document.

    Pages are added when their session has loaded and discarded when it ends. A page whose
    last draw has not run yet (the event loop is behind), or whose browser has not applied
    it yet (short of CPU), gets no new one: each session gets the newest state as fast as
    its browser takes it, never a backlog.
    """

    def __init__(self, models: ViewModels) -> None:
        self.models = models
        self._pages: dict[int, tuple[FleetPage, Schedule]] = {}
        self._lock = threading.Lock()  # sessions load and end on callback threads too

    def add(self, page: FleetPage, schedule: Schedule) -> None:
        """Keep ``page`` current; ``schedule`` runs a callback on its document."""
        with self._lock:
            self._pages[id(page)] = (page, schedule)

    def discard(self, page: FleetPage) -> None:
        with self._lock:
            self._pages.pop(id(page), None)

    def tick(self, now: float | None = None) -> int:
        """Advance the view model and schedule the pages behind it; returns how many."""
        model = self.models.advance()
        now = time.monotonic() if now is None else now
        with self._lock:
            pages = list(self._pages.values())
        scheduled = 0
        for page, schedule in pages:
            if not page.ready(now) or not page.behind(model, now):
                continue
            page.pending = True
            try:
                schedule(partial(page.draw_scheduled, model))
                scheduled += 1
            except Exception:  # a session that is going away: its page is discarded soon
                page.pending = False
                log.exception("could not schedule a page redraw")
        return scheduled

    def run_tick(self) -> None:
        """``tick`` for the timer: an error is logged, and the next tick runs all the same."""
        try:
            self.tick()
        except Exception:
            log.exception("dashboard tick failed")

    def start(self, period_ms: int = REFRESH_MS) -> PeriodicCallback:
        """Tick every ``period_ms`` on the current thread's event loop (the server's)."""
        timer = PeriodicCallback(self.run_tick, period_ms)
        timer.start()
        return timer


def create_page(services: UiServices, ticker: SessionTicker | None = None) -> pn.viewable.Viewable:
    """One session's page; kept current by ``ticker`` while served, static otherwise (tests)."""
    page = FleetPage(services, ticker.models if ticker is not None else None)
    document = pn.state.curdoc
    if ticker is not None and document is not None and document.session_context is not None:
        # Once the page has loaded (its websocket is open), until the browser tab goes away.
        pn.state.onload(lambda: ticker.add(page, document.add_next_tick_callback))
        document.on_session_destroyed(lambda _context: ticker.discard(page))
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

    ticker = SessionTicker(ViewModels(services.state))

    # A plain function, not a functools.partial: Panel only calls functions,
    # and would render a partial's repr as the page.
    def session_page() -> pn.viewable.Viewable:
        return create_page(services, ticker)

    server = pn.serve(
        {"/": session_page},
        port=port,
        address=settings.ui_host,
        websocket_origin=origins,
        show=False,
        start=False,
        threaded=False,
        title="fleetcast",
    )
    ticker.start()  # on the server's event loop, which is this thread's
    server.start()
    server.io_loop.start()
