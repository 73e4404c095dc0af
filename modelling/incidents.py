"""Incidents on real data, and how well a warning rule saw them coming.

Everything here works on per-server arrays on the 5-minute grid (values may
be NaN: no reading) and is pure, so the same definitions serve the anchor
rules, the trained forecaster and any later rule.

Definitions (metric is ``cpu_pct`` or ``mem_pct``, level 95):

- **incident**: the metric at or above the level for at least 3 consecutive
  steps, after at least 12 *observed* steps below it. NaN steps are not
  observed: they neither break nor add to the 12, but a step at or above the
  level does, even a single one (so 2 high steps, 11 quiet steps and 3 high
  steps are no incident). The 12 are counted since the metric's previous
  step at or above the level (or the start of the series). A NaN step inside
  a high run ends the run. The incident time is the start of the run's first
  step.
- **recurring**: an earlier incident of the same server and metric started at
  least a day before, at a time of day within 30 minutes (on the circle, so
  23:50 and 00:10 are 20 minutes apart): a daily job.
- **origins**: the moments a rule is asked, every ``every_min`` minutes once
  a server has 24 h (288 steps) of rows, on multiples of ``every_min`` of the
  clock (every server is asked at the same moments). The origin at step
  ``t`` is the start of step ``t`` and sees steps ``< t`` only.
- **warned**: an alert is open at some origin at most 8 h before the
  incident time (``at - 8h <= origin <= at``) that came strictly after the
  end of the metric's previous step at or above the level (``origin >
  prev_high_at + 5 min``). An origin exactly at that end still has the
  saturated step as its newest reading, so its alert is about the old
  saturation, not a warning of the new one. **lead** = incident time minus
  the first such origin, in minutes.
- **false alarms**, two ways, both against incidents of the same server (or,
  for alert states kept per server *and* metric, of that metric):
  (a) alert episodes (maximal runs of consecutive origins with the alert
  open) with no incident starting in ``[episode start, start + 8h]``, per 100
  server-days; (b) open time with no incident in ``[origin, origin + 8h]``,
  each open origin counting ``alert_every_min`` minutes, in hours per
  server-day.
- **server-days**: per evaluated server, from its first origin to the end of
  its last step, summed (``span_days``). The first day of each server cannot
  be judged (no origin sees it), so it does not count.

A rule at two severities (``warning`` or worse, ``danger`` or worse) is two
sets of alert states, judged separately.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from schemas.grid import CONTEXT_STEPS

LEVEL = 95.0
MIN_RUN = 3
QUIET_STEPS = 12
HISTORY_STEPS = CONTEXT_STEPS
STEP_NS = 5 * 60 * 10**9
HOUR_NS = 60 * 60 * 10**9
DAY_NS = 24 * HOUR_NS
WARN_WINDOW_NS = 8 * HOUR_NS
RECUR_TOLERANCE_NS = 30 * 60 * 10**9


@dataclass(frozen=True)
class Incident:
    server_id: str
    metric: str
    at: pd.Timestamp
    step: int
    #: Start of the metric's last step at or above the level before ``at``; None when none.
    prev_high_at: pd.Timestamp | None = None
    recurring: bool = False


def incident_steps(
    values: np.ndarray,
    level: float = LEVEL,
    min_run: int = MIN_RUN,
    quiet_steps: int = QUIET_STEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Step indices where incidents start, and each one's previous high step (-1: none)."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    idx = np.arange(n)
    high = v >= level  # NaN compares False: not high
    low = v < level  # and not low either
    # Last high step strictly before each step.
    prev_high = np.r_[-1, np.maximum.accumulate(np.where(high, idx, -1))[:-1]]
    # First step that is not high at or after each step: the end of a run.
    run_end = np.minimum.accumulate(np.where(high, n, idx)[::-1])[::-1]
    starts = idx[high & ~np.r_[False, high[:-1]]]
    lows_before = np.r_[0, np.cumsum(low)]  # lows in [0, i)
    quiet = lows_before[starts] - lows_before[prev_high[starts] + 1]
    keep = (run_end[starts] - starts >= min_run) & (quiet >= quiet_steps)
    return starts[keep], prev_high[starts[keep]]


def recurring_flags(times_ns: np.ndarray) -> np.ndarray:
    """For incident times of one server and metric: is each one recurring?"""
    t = np.asarray(times_ns, dtype=np.int64)
    if len(t) < 2:
        return np.zeros(len(t), dtype=bool)
    tod = t % DAY_NS
    diff = np.abs(tod[:, None] - tod[None, :])
    circular = np.minimum(diff, DAY_NS - diff)
    earlier = t[None, :] <= t[:, None] - DAY_NS  # [i, j]: j a day or more before i
    return np.asarray((earlier & (circular <= RECUR_TOLERANCE_NS)).any(axis=1))


def per_server(
    wide: pd.DataFrame, metrics: Sequence[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per server: its step starts (int64 ns, ascending) and a (steps, metrics) array."""
    out = {}
    for server, rows in wide.groupby("server_id", sort=True):
        ordered = rows.sort_values("timestamp")
        stamps = pd.DatetimeIndex(pd.to_datetime(ordered["timestamp"], utc=True)).as_unit("ns")
        out[str(server)] = (stamps.asi8, ordered[list(metrics)].to_numpy(np.float64))
    return out


def find_incidents(
    wide: pd.DataFrame,
    metrics: Sequence[str] = ("cpu_pct", "mem_pct"),
    level: float = LEVEL,
) -> list[Incident]:
    """Every incident in a wide frame, sorted by server, metric and time, recurring marked."""
    found = []
    for server, (stamps, values) in per_server(wide, metrics).items():
        for col, metric in enumerate(metrics):
            starts, prev = incident_steps(values[:, col], level)
            recurring = recurring_flags(stamps[starts])
            for s, p, r in zip(starts, prev, recurring, strict=True):
                found.append(
                    Incident(
                        server_id=server,
                        metric=metric,
                        at=_ts(stamps[s]),
                        step=int(s),
                        prev_high_at=_ts(stamps[p]) if p >= 0 else None,
                        recurring=bool(r),
                    )
                )
    return found


def origin_steps(
    stamps_ns: np.ndarray, every_min: int, history_steps: int = HISTORY_STEPS
) -> np.ndarray:
    """Origin step indices of one server: on the clock every ``every_min``, after 24 h of rows."""
    if every_min <= 0 or every_min % 5:
        raise ValueError(f"origins must be a positive multiple of 5 minutes, not {every_min}")
    every_ns = every_min * 60 * 10**9
    candidates = np.arange(history_steps, len(stamps_ns))
    return candidates[np.asarray(stamps_ns)[candidates] % every_ns == 0]


def span_days(stamps_ns: np.ndarray, origins: np.ndarray) -> float:
    """Server-days a server is judged over: its first origin to the end of its last step."""
    if len(origins) == 0:
        return 0.0
    return float(stamps_ns[-1] + STEP_NS - stamps_ns[origins[0]]) / DAY_NS


@dataclass(frozen=True)
class AlertSeries:
    """One server's (or server and metric's) alert state at its origins, for one rule and level."""

    times_ns: np.ndarray  # int64 ns (datetimes are converted), strictly ascending
    open: np.ndarray  # bool, same length

    def __post_init__(self) -> None:
        times = np.asarray(self.times_ns)
        if times.dtype.kind in "MO":  # datetime64, or Timestamps
            times = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).as_unit("ns").asi8
        times = times.astype(np.int64)
        flags = np.asarray(self.open, dtype=bool)
        if times.shape != flags.shape or times.ndim != 1:
            raise ValueError("origin times and open flags must be 1-D arrays of one length")
        if len(times) > 1 and np.any(np.diff(times) <= 0):
            raise ValueError("origin times must be strictly ascending")
        object.__setattr__(self, "times_ns", times)
        object.__setattr__(self, "open", flags)


AlertKey = str | tuple[str, str]
#: Keyed by server id or by (server_id, metric); Any because Mapping keys are invariant.
AlertStates = Mapping[Any, AlertSeries]


def alert_states_from_rows(rows: Iterable[tuple[str, Any, bool]]) -> dict[AlertKey, AlertSeries]:
    """``(server_id, origin time, open)`` rows into per-server sorted series."""
    grouped: dict[AlertKey, list[tuple[int, bool]]] = {}
    for server, when, is_open in rows:
        grouped.setdefault(server, []).append((_ns(when), bool(is_open)))
    out: dict[AlertKey, AlertSeries] = {}
    for key, items in grouped.items():
        items.sort()
        out[key] = AlertSeries(
            np.array([t for t, _ in items], dtype=np.int64), np.array([o for _, o in items])
        )
    return out


@dataclass(frozen=True)
class RuleQuality:
    incidents: int
    warned: int
    warned_share: float | None
    median_lead_min: float | None
    false_per_100_server_days: float | None
    false_on_hours_per_server_day: float | None
    warned_share_recurring: float | None
    warned_share_nonrecurring: float | None
    lead_times_min: tuple[float, ...] = field(default=())
    alert_episodes: int = 0
    false_episodes: int = 0
    false_on_hours: float = 0.0
    server_days: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "warned_share": self.warned_share,
            "median_lead_min": self.median_lead_min,
            "false_per_100_server_days": self.false_per_100_server_days,
            "false_on_hours_per_server_day": self.false_on_hours_per_server_day,
            "warned_share_recurring": self.warned_share_recurring,
            "warned_share_nonrecurring": self.warned_share_nonrecurring,
        }


def warning_lead_min(incident: Incident, series: AlertSeries | None) -> float | None:
    """Minutes from the first qualifying open origin to the incident; None if not warned."""
    if series is None:
        return None
    at = _ns(incident.at)
    lo = at - WARN_WINDOW_NS
    if incident.prev_high_at is not None:
        lo = max(lo, _ns(incident.prev_high_at) + STEP_NS + 1)  # strictly after its end
    i0 = int(np.searchsorted(series.times_ns, lo, side="left"))
    i1 = int(np.searchsorted(series.times_ns, at, side="right"))
    opened = np.flatnonzero(series.open[i0:i1])
    if len(opened) == 0:
        return None
    return (at - int(series.times_ns[i0 + opened[0]])) / 60e9


def judge_rule(
    incidents: Sequence[Incident],
    alert_states: AlertStates,
    *,
    alert_every_min: float,
    server_days: float,
) -> RuleQuality:
    """Warned share, lead and false alarms of one rule at one severity level.

    ``incidents`` are the ones the rule is judged on (normally those at or
    after their server's first origin: see ``judgeable``). Alert states are
    keyed by server id, or by ``(server_id, metric)`` for a rule that alerts
    per metric; an incident looks for its ``(server, metric)`` series first.
    """
    leads: list[float] = []
    warned_flags = []
    for incident in incidents:
        series = alert_states.get((incident.server_id, incident.metric))
        if series is None:
            series = alert_states.get(incident.server_id)
        lead = warning_lead_min(incident, series)
        warned_flags.append(lead is not None)
        if lead is not None:
            leads.append(lead)

    episodes = false_episodes = false_origins = 0
    for key, series in alert_states.items():
        if isinstance(key, tuple):
            times = [_ns(i.at) for i in incidents if (i.server_id, i.metric) == key]
        else:
            times = [_ns(i.at) for i in incidents if i.server_id == key]
        has_after = _incident_within(np.sort(np.array(times, dtype=np.int64)), series.times_ns)
        flags = series.open
        starts = flags & ~np.r_[False, flags[:-1]]
        episodes += int(starts.sum())
        false_episodes += int((starts & ~has_after).sum())
        false_origins += int((flags & ~has_after).sum())
    false_hours = false_origins * alert_every_min / 60.0

    warned = np.array(warned_flags, dtype=bool)
    recurring = np.array([i.recurring for i in incidents], dtype=bool)
    return RuleQuality(
        incidents=len(incidents),
        warned=int(warned.sum()),
        warned_share=_share(warned),
        median_lead_min=float(np.median(leads)) if leads else None,
        false_per_100_server_days=100.0 * false_episodes / server_days if server_days else None,
        false_on_hours_per_server_day=false_hours / server_days if server_days else None,
        warned_share_recurring=_share(warned[recurring]),
        warned_share_nonrecurring=_share(warned[~recurring]),
        lead_times_min=tuple(leads),
        alert_episodes=episodes,
        false_episodes=false_episodes,
        false_on_hours=false_hours,
        server_days=server_days,
    )


def judgeable(incidents: Iterable[Incident], first_origin: Mapping[str, Any]) -> list[Incident]:
    """The incidents a rule can be judged on: at or after their server's first origin."""
    firsts = {server: _ns(when) for server, when in first_origin.items()}
    return [i for i in incidents if i.server_id in firsts and _ns(i.at) >= firsts[i.server_id]]


def _incident_within(incident_ns: np.ndarray, origins_ns: np.ndarray) -> np.ndarray:
    """Per origin: does an incident start in ``[origin, origin + 8h]``?"""
    nxt = np.searchsorted(incident_ns, origins_ns, side="left")
    found = nxt < len(incident_ns)
    out = np.zeros(len(origins_ns), dtype=bool)
    out[found] = incident_ns[nxt[found]] <= origins_ns[found] + WARN_WINDOW_NS
    return out


def _share(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if len(flags) else None


def _ts(ns: int | np.integer) -> pd.Timestamp:
    return pd.Timestamp(int(ns), unit="ns", tz="UTC")


def _ns(when: Any) -> int:
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return int(stamp.as_unit("ns").value)
