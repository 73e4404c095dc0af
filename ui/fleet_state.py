"""The UI's read model: the fleet as the forecasts, alerts and scenarios topics describe it.

``FleetState`` is pure (no Kafka): ``apply_*`` fold payloads in, the read
methods hand out JSON-able data. Everything it holds is bounded: per server
the newest forecast, a 24 h ring of its metrics, risk and severity and the
scenario the simulator applied to it; the fleet's aggregate per 5-minute step
for 24 h; a capped number of resolved alerts and of refused scenario commands.
The servers themselves are capped (``core.tracking``): at ``max_servers`` the
one silent longest makes room if it has had no forecast for ``silent_after_s``,
else the newcomer is refused; both are counted (``evicted``, ``refused``) and
logged. ``ui.feed.FleetFeed`` is the one consumer per process that feeds it.

Reads that cost O(fleet) are computed once per ``version`` and shared by every
session: treat what they return as read-only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

import numpy as np

from core.settings import Settings
from core.tracking import ServerTracker
from schemas.alert import AlertEvent, AlertStatus
from schemas.common import METRICS
from schemas.forecast import Forecast
from schemas.grid import CONTEXT_STEPS
from schemas.scenario_state import ScenarioState
from schemas.severity import SEVERITIES, Severity, rank
from ui.risk import fleet_probability
from ui.series import SeriesRing

log = logging.getLogger(__name__)

#: 24 h of 5-minute forecasts per server.
HISTORY_STEPS = CONTEXT_STEPS
HISTORY_SPAN = timedelta(hours=24)
#: Resolved alerts kept for display; open ones are always kept.
MAX_RESOLVED_ALERTS = 1000
RECENT_ALERT_EVENTS = 1000
#: Refused scenario commands kept for display.
RECENT_REFUSALS = 100
#: Defaults of ``Settings.ui_max_servers`` and ``evict_silent_after_s`` (tests build bare states).
MAX_SERVERS = 10_000
SILENT_AFTER_S = 3600.0
#: Log the first refusal or eviction and then one in this many: a flood must not flood the log.
_LOG_EVERY = 1000
#: Ring columns: the metrics' last values, then the risk score and the severity's rank.
_RISK, _RANK = len(METRICS), len(METRICS) + 1

Kind = Literal["forecast", "alert"]
Listener = Callable[[Kind, Forecast | AlertEvent], None]
T = TypeVar("T")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: int | np.integer[Any]) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC)


def _fleet_row(forecast: Forecast, chances: tuple[float, ...]) -> dict[str, Any]:
    breach = forecast.predicted_breach_at
    return {
        "server_id": forecast.server_id,
        "profile": forecast.profile,
        "severity": forecast.severity,
        "risk_score": forecast.risk_score,
        "risk_metric": forecast.risk_metric,
        "risk_value": forecast.last_values.get(forecast.risk_metric)
        if forecast.risk_metric else None,
        "predicted_breach_at": _iso(breach),
        # Relative to the forecast start: simulated time may run far ahead of the wall clock.
        "breach_in_s": (breach - forecast.start).total_seconds() if breach else None,
        "p_30m": chances[0],
        "p_8h": chances[1],
        "status": forecast.status,
        "context_steps": forecast.context_steps,
        "min_context_steps": forecast.min_context_steps,
        "start": _iso(forecast.start),
        "updated_at": _iso(forecast.issued_at),
        "model_version": forecast.model_version,
    }


def _alert_order(event: AlertEvent) -> tuple[datetime, bool]:
    # At equal times a resolution wins over a firing: an episode never reopens.
    return (event.issued_at, event.status == "resolved")


@dataclass(frozen=True)
class Override:
    """A server's scenario as the simulator applied it."""

    scenario: str  # what it does: the scenario, or the ramp a degrading server is on
    since: datetime  # when the simulator published it (wall clock)


@dataclass(frozen=True)
class Refusal:
    """A scenario command the simulator refused."""

    scenario: str
    servers_named: int
    reason: str
    at: datetime


@dataclass
class Episode:
    """One alert from its first firing to its resolution, for the cost-avoidance view."""

    alert_id: str
    server_id: str
    profile: str
    first_fired_at: datetime
    peak: Severity
    #: Longest warning ahead of a predicted breach, in the forecast's (simulated) time.
    lead_s: float | None = None
    resolved: bool = False


class FleetState:
    """Thread-safe, bounded view of the fleet: latest forecast per server, alerts, histories.

    Every change bumps ``version`` so a page can tell cheaply whether it has
    anything to redraw; listeners (the API's WebSockets) hear each accepted payload.
    """

    def __init__(
        self,
        history_steps: int = HISTORY_STEPS,
        max_resolved_alerts: int = MAX_RESOLVED_ALERTS,
        recent_alert_events: int = RECENT_ALERT_EVENTS,
        reuse_s: float = 0.0,
        *,
        max_servers: int = MAX_SERVERS,
        silent_after_s: float = SILENT_AFTER_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``reuse_s``: how long an O(fleet) read may be served from its cache after the state
        moved on; with many sessions and a busy fleet it bounds the recomputations per second
        (the dashboard uses a quarter of a second; 0 recomputes on every change).

        A server is heard at its forecast's ``issued_at`` (the worker's wall clock), no later
        than ``clock()``: a forged date cannot keep a server from being evicted."""
        self._reuse_s = reuse_s
        self._tracker = ServerTracker(max_servers, silent_after_s)
        self._clock = clock
        self.refused = 0
        self._lock = threading.Lock()
        self._version = 0
        self._history_steps = history_steps
        self._forecasts: dict[str, Forecast] = {}
        self._chances: dict[str, tuple[float, ...]] = {}
        self._series: dict[str, SeriesRing] = {}
        # Open alerts are few (at most about one per server) and must never be
        # dropped; resolved ones only grow, so they are capped, oldest out first.
        self._firing: dict[str, AlertEvent] = {}
        self._resolved: OrderedDict[str, AlertEvent] = OrderedDict()
        self._max_resolved = max_resolved_alerts
        self._recent: deque[AlertEvent] = deque(maxlen=recent_alert_events)
        self._episodes: OrderedDict[str, Episode] = OrderedDict()
        # The fleet's aggregate as it stood when the fleet moved past each step.
        self._fleet_steps: dict[int, dict[str, Any]] = {}
        self._newest_start: int | None = None
        self._overrides: dict[str, Override] = {}
        self._refusals: deque[Refusal] = deque(maxlen=RECENT_REFUSALS)
        self._listeners: list[Listener] = []
        self._cache: dict[str, tuple[int, float, Any]] = {}

    @classmethod
    def for_settings(cls, settings: Settings, reuse_s: float = 0.0) -> FleetState:
        """A state bounded as the settings say (``ui_max_servers``, ``evict_silent_after_s``)."""
        return cls(reuse_s=reuse_s, max_servers=settings.ui_max_servers,
                   silent_after_s=settings.evict_silent_after_s)

    @property
    def version(self) -> int:
        return self._version

    @property
    def max_servers(self) -> int:
        return self._tracker.cap

    @property
    def evicted(self) -> int:
        """Servers dropped to make room for others, after ``silent_after_s`` without news."""
        return self._tracker.evicted

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (on the writer's thread) with every accepted payload; returns the
        function that stops it. A listener must be quick and must not raise."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop

    def _tell(self, kind: Kind, payload: Forecast | AlertEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(kind, payload)
            except Exception:  # a broken listener must not stop the feed
                log.exception("fleet state listener failed")

    # -- writes -------------------------------------------------------------------------------

    def apply_forecast(self, forecast: Forecast) -> bool:
        """Fold a forecast in; returns whether anything changed.

        An older window than the one held is ignored, and a re-scored window
        (same ``start``) replaces its predecessor, so redelivered or
        out-of-order messages never add a second entry.
        """
        chances = (forecast.p_incident_30m, forecast.p_incident_8h)  # the worker's
        heard = min(forecast.issued_at.timestamp(), self._clock())
        with self._lock:
            held = self._forecasts.get(forecast.server_id)
            if held is not None and (forecast.start < held.start or forecast == held):
                return False
            if not self._admit_locked(forecast.server_id, heard):
                return False
            start = _epoch(forecast.start)
            if self._newest_start is not None and start > self._newest_start:
                self._fleet_steps[self._newest_start] = self._aggregate_locked()
                self._drop_old_steps(start)
            if self._newest_start is None or start > self._newest_start:
                self._newest_start = start
            self._forecasts[forecast.server_id] = forecast
            self._chances[forecast.server_id] = chances
            self._record_series(forecast, start)
            self._version += 1
        self._tell("forecast", forecast)
        return True

    def _admit_locked(self, server_id: str, heard: float) -> bool:
        """Make room for a server new to the view, or refuse it; marks it heard if admitted."""
        tracker = self._tracker
        if server_id not in tracker:
            admission = tracker.admit(server_id, heard)
            if not admission.admitted:
                self.refused += 1
                if self.refused % _LOG_EVERY == 1:
                    log.warning("read model refused %s (%d refused so far): %s", server_id,
                                self.refused, admission.reason)
                return False
            if admission.evict is not None:
                self._forget_locked(admission.evict)
        tracker.heard(server_id, heard)
        return True

    def _forget_locked(self, server_id: str) -> None:
        self._forecasts.pop(server_id, None)
        self._chances.pop(server_id, None)
        self._series.pop(server_id, None)
        self._overrides.pop(server_id, None)
        self._tracker.forget(server_id)
        if self._tracker.evicted % _LOG_EVERY == 1:
            log.warning("read model evicted %s, silent for over %g s, to make room (%d evicted "
                        "so far)", server_id, self._tracker.silent_after_s,
                        self._tracker.evicted)

    def _record_series(self, forecast: Forecast, start: int) -> None:
        ring = self._series.get(forecast.server_id)
        if ring is None:
            ring = self._series[forecast.server_id] = SeriesRing(
                self._history_steps, len(METRICS) + 2
            )
        row = [np.nan if (v := forecast.last_values.get(n)) is None else v for n in METRICS]
        ring.put(start, [*row, forecast.risk_score, rank(forecast.severity)])
        # The step cap alone would keep days-old points of a server that reports rarely.
        ring.drop_before(start - int(HISTORY_SPAN.total_seconds()))

    def _drop_old_steps(self, newest: int) -> None:
        horizon = newest - int(HISTORY_SPAN.total_seconds())
        for start in [s for s in self._fleet_steps if s < horizon]:
            del self._fleet_steps[start]

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
            self._record_episode(event)
            self._recent.append(event)
            self._version += 1
        self._tell("alert", event)
        return True

    def _record_episode(self, event: AlertEvent) -> None:
        episode = self._episodes.get(event.alert_id)
        if episode is None:
            episode = self._episodes[event.alert_id] = Episode(
                event.alert_id, event.server_id, event.profile, event.issued_at, event.severity
            )
            while len(self._episodes) > self._max_resolved + len(self._firing):
                self._episodes.popitem(last=False)
        if event.status == "resolved":
            episode.resolved = True
            return
        if rank(event.severity) > rank(episode.peak):
            episode.peak = event.severity
        forecast = self._forecasts.get(event.server_id)
        if event.predicted_breach_at is not None and forecast is not None:
            lead = (event.predicted_breach_at - forecast.start).total_seconds()
            if lead > 0 and (episode.lead_s is None or lead > episode.lead_s):
                episode.lead_s = lead

    def apply_scenario(self, state: ScenarioState, at: datetime) -> bool:
        """Fold in what the simulator did with a command, published at ``at`` (wall clock): a
        server's new state (a scenario in force, or back at rest) or a refused command."""
        with self._lock:
            if state.outcome == "refused" or state.server_id is None:
                self._refusals.append(Refusal(
                    state.scenario or "-", state.servers_named, state.reason or "", at))
            elif not state.in_force:
                self._overrides.pop(state.server_id, None)
            elif self._admit_locked(state.server_id, min(at.timestamp(), self._clock())):
                self._overrides[state.server_id] = Override(state.state or "", at)
            else:
                return False
            self._version += 1
        return True

    # -- reads: snapshots taken under the lock, serialised outside it (payloads are frozen) ---

    def _cached(self, name: str, build: Callable[[], T]) -> T:
        version, now = self._version, time.monotonic()
        hit = self._cache.get(name)
        if hit is not None and (hit[0] == version or now - hit[1] < self._reuse_s):
            value: T = hit[2]
            return value
        value = build()
        self._cache[name] = (version, now, value)
        return value

    def fleet(self) -> list[dict[str, Any]]:
        """One row per server, highest risk first (shared: do not mutate)."""
        return self._cached("fleet", self._build_fleet)

    def _build_fleet(self) -> list[dict[str, Any]]:
        with self._lock:
            pairs = [(f, self._chances[f.server_id]) for f in self._forecasts.values()]
        pairs.sort(key=lambda pair: (-pair[0].risk_score, pair[0].server_id))
        return [_fleet_row(forecast, chances) for forecast, chances in pairs]

    def server(self, server_id: str) -> dict[str, Any] | None:
        """The server's latest forecast as a JSON-able dict, or ``None`` if never seen."""
        with self._lock:
            forecast = self._forecasts.get(server_id)
        return forecast.model_dump(mode="json") if forecast is not None else None

    def forecast(self, server_id: str) -> Forecast | None:
        with self._lock:
            return self._forecasts.get(server_id)

    def knows(self, server_id: str) -> bool:
        with self._lock:
            return server_id in self._forecasts

    def _ring(self, server_id: str) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            ring = self._series.get(server_id)
            if ring is None:
                return np.zeros(0, dtype=np.int64), np.zeros((0, len(METRICS) + 2), np.float32)
            return ring.view()

    def history(self, server_id: str) -> list[dict[str, Any]]:
        """The server's recent severities, oldest first."""
        times, rows = self._ring(server_id)
        return [
            {"start": _moment(t).isoformat(), "severity": SEVERITIES[int(row[_RANK])],
             "risk_score": float(row[_RISK])}
            for t, row in zip(times, rows, strict=True)
        ]

    def metric_history(self, server_id: str) -> tuple[list[datetime], dict[str, np.ndarray]]:
        """The server's last observed value per metric at each forecast, oldest first (NaN: gap)."""
        times, rows = self._ring(server_id)
        return [_moment(t) for t in times], {n: rows[:, j] for j, n in enumerate(METRICS)}

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

    def episodes(self) -> list[Episode]:
        """Alert episodes, oldest first (copies)."""
        with self._lock:
            return [Episode(**vars(e)) for e in self._episodes.values()]

    def severity_counts(self) -> dict[Severity, int]:
        """Servers per severity, every level present, least severe first (shared)."""
        return self._cached("counts", self._build_counts)

    def _build_counts(self) -> dict[Severity, int]:
        counts = dict.fromkeys(SEVERITIES, 0)
        with self._lock:
            for forecast in self._forecasts.values():
                counts[forecast.severity] += 1
        return counts

    def incident_chances(self) -> dict[str, float]:
        """The fleet's probability of an incident within 30 minutes (``p_30m``) and 8 h."""
        return self._cached("chances", self._build_chances)

    def _build_chances(self) -> dict[str, float]:
        with self._lock:
            chances = list(self._chances.values())
        return {
            "p_30m": fleet_probability(c[0] for c in chances),
            "p_8h": fleet_probability(c[1] for c in chances),
        }

    def _aggregate_locked(self) -> dict[str, Any]:
        counts = dict.fromkeys(SEVERITIES, 0)
        risks = []
        for forecast in self._forecasts.values():
            counts[forecast.severity] += 1
            risks.append(forecast.risk_score)
        return {
            "counts": counts,
            "mean_risk": float(np.mean(risks)) if risks else 0.0,
            "max_risk": max(risks, default=0.0),
            "p_8h": fleet_probability(c[1] for c in self._chances.values()),
        }

    def fleet_history(self) -> list[dict[str, Any]]:
        """Per 5-minute step of the last 24 h: servers per severity, mean and max risk and the
        8 h incident probability, as the fleet stood when it moved past the step; the current
        step last (shared: do not mutate)."""
        return self._cached("fleet_history", self._build_fleet_history)

    def _build_fleet_history(self) -> list[dict[str, Any]]:
        with self._lock:
            steps = dict(self._fleet_steps)
            if self._newest_start is not None:
                steps[self._newest_start] = self._aggregate_locked()
        return [{"start": _moment(s), **steps[s]} for s in sorted(steps)]

    def overrides(self) -> dict[str, Override]:
        """The servers in a scenario, as the simulator applied it, by server id."""
        with self._lock:
            return dict(sorted(self._overrides.items()))

    def refusals(self) -> list[Refusal]:
        """The scenario commands the simulator refused, newest first."""
        with self._lock:
            return list(reversed(self._refusals))

    def model_versions(self) -> dict[str, int]:
        """Servers per model version of their latest forecast."""
        versions: dict[str, int] = {}
        with self._lock:
            for forecast in self._forecasts.values():
                versions[forecast.model_version] = versions.get(forecast.model_version, 0) + 1
        return versions

    def warming_up_count(self) -> int:
        return self._cached("warming", self._build_warming)

    def _build_warming(self) -> int:
        with self._lock:
            return sum(1 for f in self._forecasts.values() if f.status == "warming_up")

    def firing_count(self) -> int:
        with self._lock:
            return len(self._firing)

    def server_count(self) -> int:
        with self._lock:
            return len(self._forecasts)

    def server_ids(self) -> list[str]:
        return self._cached("server_ids", self._build_server_ids)

    def _build_server_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._forecasts)
