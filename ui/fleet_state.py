"""The UI's read model: what the fleet looks like, rebuilt from the forecasts and alerts topics.

``FleetState`` is pure (no Kafka): ``apply_*`` fold payloads in, the read
methods hand out JSON-able copies. ``FleetFeed`` is the one background
consumer per process that feeds it; ``shared_feed`` hands every dashboard
session and the API the same feed instead of a consumer each.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from fleetcast.kafka import drain, make_consumer
from fleetcast.settings import Settings
from schemas.alert import AlertEvent, AlertStatus
from schemas.forecast import Forecast
from schemas.severity import SEVERITIES, Severity
from ui.shared import ProcessRegistry, cluster_key

log = logging.getLogger(__name__)

#: 24 h of 5-minute forecasts per server.
HISTORY_STEPS = 288
HISTORY_SPAN = timedelta(hours=24)
#: Resolved alerts kept for display; open ones are always kept.
MAX_RESOLVED_ALERTS = 1000
RECENT_ALERT_EVENTS = 1000


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _fleet_row(forecast: Forecast) -> dict[str, Any]:
    breach = forecast.predicted_breach_at
    return {
        "server_id": forecast.server_id,
        "profile": forecast.profile,
        "severity": forecast.severity,
        "risk_score": forecast.risk_score,
        "risk_metric": forecast.risk_metric,
        "predicted_breach_at": _iso(breach),
        # Relative to the forecast start: simulated time may run far ahead of the wall clock.
        "breach_in_s": (breach - forecast.start).total_seconds() if breach else None,
        "status": forecast.status,
        "context_steps": forecast.context_steps,
        "min_context_steps": forecast.min_context_steps,
        "start": _iso(forecast.start),
        "updated_at": _iso(forecast.issued_at),
    }


def _alert_order(event: AlertEvent) -> tuple[datetime, bool]:
    # At equal times a resolution wins over a firing: an episode never reopens.
    return (event.issued_at, event.status == "resolved")


class FleetState:
    """Thread-safe, bounded view of the fleet: latest forecast per server, alerts, histories.

    Per server it keeps the newest forecast (by window ``start``) and a short
    severity history; per alert the newest event. Every change bumps
    ``version`` so a page can tell cheaply whether it has anything to redraw.
    """

    def __init__(
        self,
        history_steps: int = HISTORY_STEPS,
        max_resolved_alerts: int = MAX_RESOLVED_ALERTS,
        recent_alert_events: int = RECENT_ALERT_EVENTS,
    ) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._history_steps = history_steps
        self._forecasts: dict[str, Forecast] = {}
        self._history: dict[str, deque[tuple[datetime, Severity, float]]] = {}
        # Open alerts are few (at most about one per server) and must never be
        # dropped; resolved ones only grow, so they are capped, oldest out first.
        self._firing: dict[str, AlertEvent] = {}
        self._resolved: OrderedDict[str, AlertEvent] = OrderedDict()
        self._max_resolved = max_resolved_alerts
        self._recent: deque[AlertEvent] = deque(maxlen=recent_alert_events)

    @property
    def version(self) -> int:
        return self._version

    # -- writes -------------------------------------------------------------------------------

    def apply_forecast(self, forecast: Forecast) -> bool:
        """Fold a forecast in; returns whether anything changed.

        An older window than the one held is ignored, and a re-scored window
        (same ``start``) replaces its predecessor, so redelivered or
        out-of-order messages never add a second entry.
        """
        with self._lock:
            held = self._forecasts.get(forecast.server_id)
            if held is not None and (forecast.start < held.start or forecast == held):
                return False
            self._forecasts[forecast.server_id] = forecast
            self._record_history(forecast)
            self._version += 1
            return True

    def _record_history(self, forecast: Forecast) -> None:
        history = self._history.setdefault(
            forecast.server_id, deque(maxlen=self._history_steps)
        )
        if history and history[-1][0] == forecast.start:
            history.pop()
        history.append((forecast.start, forecast.severity, forecast.risk_score))
        # The step cap alone would keep days-old points of a server that reports rarely.
        while history[0][0] < forecast.start - HISTORY_SPAN:
            history.popleft()

    def apply_alert(self, event: AlertEvent) -> bool:
        """Fold an alert event in; returns whether anything changed (older events are ignored)."""
        with self._lock:
            held = self._firing.get(event.alert_id) or self._resolved.get(event.alert_id)
            if held is not None and (event == held or _alert_order(event) < _alert_order(held)):
                return False
            if event.status == "firing":
                self._firing[event.alert_id] = event
            else:
                self._firing.pop(event.alert_id, None)
                self._resolved[event.alert_id] = event
                self._resolved.move_to_end(event.alert_id)
                while len(self._resolved) > self._max_resolved:
                    self._resolved.popitem(last=False)
            self._recent.append(event)
            self._version += 1
            return True

    # -- reads: snapshots taken under the lock, serialised outside it (payloads are frozen) ---

    def fleet(self) -> list[dict[str, Any]]:
        """One row per server, highest risk first."""
        with self._lock:
            forecasts = list(self._forecasts.values())
        forecasts.sort(key=lambda f: (-f.risk_score, f.server_id))
        return [_fleet_row(forecast) for forecast in forecasts]

    def server(self, server_id: str) -> dict[str, Any] | None:
        """The server's latest forecast as a JSON-able dict, or ``None`` if never seen."""
        with self._lock:
            forecast = self._forecasts.get(server_id)
        return forecast.model_dump(mode="json") if forecast is not None else None

    def history(self, server_id: str) -> list[dict[str, Any]]:
        """The server's recent severities, oldest first."""
        with self._lock:
            points = list(self._history.get(server_id, ()))
        return [
            {"start": start.isoformat(), "severity": severity, "risk_score": risk}
            for start, severity, risk in points
        ]

    def alerts(
        self,
        status: AlertStatus | None = None,
        severity: Severity | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The latest event of each alert, newest first, optionally filtered."""
        with self._lock:
            events = [*self._firing.values(), *self._resolved.values()]
        chosen = [
            event for event in events
            if (status is None or event.status == status)
            and (severity is None or event.severity == severity)
        ]
        chosen.sort(key=lambda event: event.issued_at, reverse=True)
        return [event.model_dump(mode="json") for event in chosen[:limit]]

    def recent_alert_events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every accepted alert event (firing, escalations, resolutions), newest first."""
        with self._lock:
            events = list(self._recent)
        events.reverse()
        return [event.model_dump(mode="json") for event in events[:limit]]

    def severity_counts(self) -> dict[Severity, int]:
        """Servers per severity, every level present, least severe first."""
        counts = dict.fromkeys(SEVERITIES, 0)
        with self._lock:
            for forecast in self._forecasts.values():
                counts[forecast.severity] += 1
        return counts

    def warming_up_count(self) -> int:
        with self._lock:
            return sum(1 for f in self._forecasts.values() if f.status == "warming_up")

    def firing_count(self) -> int:
        with self._lock:
            return len(self._firing)

    def server_count(self) -> int:
        with self._lock:
            return len(self._forecasts)

    def server_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._forecasts)


class FleetFeed:
    """One background consumer that keeps a ``FleetState`` up to date from Kafka.

    Its group id is unique and it never commits: every process rebuilds its
    view from the start of the topics, and no two processes share partitions.
    """

    def __init__(
        self,
        settings: Settings,
        state: FleetState | None = None,
        *,
        group_id: str | None = None,
        poll_timeout_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.state = state if state is not None else FleetState()
        self.group_id = group_id or f"fleetcast-ui-{uuid.uuid4().hex[:12]}"
        self.poll_timeout_s = poll_timeout_s
        self.applied = 0
        self.undecodable = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> FleetFeed:
        """Start the consumer thread (once; later calls are no-ops)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="fleetcast-ui-feed", daemon=True
                )
                self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def handle(self, topic: str, value: bytes | None) -> bool:
        """Decode one message and apply it; returns whether it was decodable."""
        try:
            if value is None:
                raise ValueError("empty message")
            if topic == self.settings.topic_forecasts:
                self.state.apply_forecast(Forecast.model_validate_json(value))
            elif topic == self.settings.topic_alerts:
                self.state.apply_alert(AlertEvent.model_validate_json(value))
            else:
                raise ValueError(f"not a topic this feed reads: {topic}")
        except (ValidationError, ValueError) as exc:
            # A bad message must not take the whole UI down; it is the producer's bug.
            self.undecodable += 1
            log.warning(
                "undecodable message on %s (%d so far): %s", topic, self.undecodable,
                str(exc)[:300],
            )
            return False
        self.applied += 1
        return True

    def _run(self) -> None:
        consumer = make_consumer(self.settings, self.group_id)
        consumer.subscribe([self.settings.topic_forecasts, self.settings.topic_alerts])
        try:
            while not self._stop.is_set():
                try:
                    for message in drain(consumer, self.poll_timeout_s):
                        self.handle(message.topic() or "", message.value())
                except Exception:
                    # Keep the view alive through broker hiccups; librdkafka reconnects.
                    log.exception("fleet feed poll failed; retrying")
                    self._stop.wait(1.0)
        finally:
            consumer.close()


_feeds: ProcessRegistry[FleetFeed] = ProcessRegistry()


def shared_feed(settings: Settings) -> FleetFeed:
    """The process's feed for the settings' cluster and topics; ``start()`` it (idempotent)."""
    key = (cluster_key(settings), settings.topic_forecasts, settings.topic_alerts)
    return _feeds.get(key, lambda: FleetFeed(settings))


def stop_shared_feeds() -> None:
    """Stop and forget every shared feed (tests, shutdown)."""
    for feed in _feeds.pop_all():
        feed.stop()
