"""The 24 h context behind a server's latest forecast, fetched from the windows topic on demand.

The detail view's "last 24 h" line is the window the model saw, not a line joined between the
few forecasts the dashboard happened to receive (right after start that was one straight
segment across hours). The UI does not follow the windows topic (see ``windows_lookup``), so
the window is looked up for the server on screen only: one lookup at a time, again at most
every ``every_s`` seconds as newer forecasts arrive, on a worker thread so the page never waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from schemas.context_window import ContextWindow
from schemas.forecast import Forecast

log = logging.getLogger(__name__)

#: (server_id, window end = forecast start, forecast issued at) -> the window, or None
Lookup = Callable[[str, datetime, datetime], ContextWindow | None]


class ContextCache:
    def __init__(
        self,
        lookup: Lookup,
        on_ready: Callable[[], None],
        *,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        run: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._lookup = lookup
        self._on_ready = on_ready
        self._every_s = every_s
        self._clock = clock
        self._run = run or (lambda job: threading.Thread(target=job, daemon=True).start())
        self._lock = threading.Lock()
        self._window: ContextWindow | None = None
        self._asked: tuple[str, datetime] | None = None
        self._asked_at = -float("inf")
        self._busy = False

    def window_for(self, forecast: Forecast) -> ContextWindow | None:
        """The newest window fetched for the forecast's server (None until one is); starts a
        lookup when this forecast is newer than what was asked and the last ask is old enough
        (or the server changed)."""
        server_id = forecast.server_id
        with self._lock:
            held = self._window if self._window and self._window.server_id == server_id else None
            other_server = self._asked is None or self._asked[0] != server_id
            newer = self._asked is None or forecast.start > self._asked[1]
            due = other_server or (newer and self._clock() - self._asked_at >= self._every_s)
            start = due and not self._busy
            if start:
                self._busy = True
                self._asked, self._asked_at = (server_id, forecast.start), self._clock()
        if start:  # outside the lock: the job takes it when it finishes
            self._run(lambda: self._fetch(server_id, forecast.start, forecast.issued_at))
        return held

    def _fetch(self, server_id: str, end: datetime, issued_at: datetime) -> None:
        try:
            window = self._lookup(server_id, end, issued_at)
        except Exception as exc:  # the page keeps its last line; the next forecast retries
            log.warning("context window of %s not fetched: %s", server_id, exc)
            window = None
        with self._lock:
            self._busy = False
            if window is not None:
                self._window = window
        if window is not None:
            self._on_ready()
