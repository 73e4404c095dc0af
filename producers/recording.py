"""Recorded simulator history for training and evaluation (``fleetcast train --simulate``).

It runs the same simulator as the live producer, minute by minute, and injects
episodes that run their whole course, so that a model trained on the history
learns both halves of what it must tell apart:

- *a sustained ramp continues*: memory leaks climb for one to ten hours until
  memory is exhausted (past the profile's critical level) and the service is
  restarted; disks fill to 100 % and are then cleaned; creeping load pegs the
  CPU before it passes;
- *noise reverts*: spikes rise within a minute or two and are gone within a
  quarter of an hour; heavy load and maintenance windows move load without
  being incidents.

Some servers also run a daily batch job that saturates the CPU at the same time
of day every day (a few minutes' jitter): the recurring incidents that "same time
yesterday" predicts. Random episodes never overlap a server's batch window.

Everything is planned up front from ``seed`` (``plan_episodes``), then played
through the simulator; the minutes are averaged into 5-minute steps exactly as
the stream processor does, so a model trains on what it will see. The episode
log (``Episode``) is the ground truth for judging alerts: what ran where, the
metric it drives, when it started, when that metric first reached its critical
level (if it did) and when the server was healthy again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

from producers.fleet import default_fleet
from producers.scenarios import RECOVERY_MINUTES, RESET_MINUTES
from producers.simulator import FleetSimulator
from schemas.common import METRICS
from schemas.profiles import profile_for
from schemas.thresholds import thresholds_for

STEP_MINUTES: Final = 5
MINUTES_PER_DAY: Final = 24 * 60


@dataclass(frozen=True)
class Course:
    """How one kind of random episode runs: ramp and hold in minutes, then its ending."""

    metric: str | None  # the metric it drives (whose breach makes it an incident)
    ramp: tuple[float, float]  # drawn log-uniformly: as many short ramps as long ones
    hold: tuple[float, float]  # minutes at its worst
    then: str  # "reset" (restart, clean-up) or "recovery" (the load passes)


COURSES: Final[dict[str, Course]] = {
    # The OOM killer or an operator restarts the service once memory is gone.
    "memory_leak": Course("mem_pct", (60, 600), (20, 60), "reset"),
    # Full, writes failing, until someone cleans up.
    "disk_fill": Course("disk_pct", (60, 480), (20, 90), "reset"),
    "creeping_load": Course("cpu_pct", (60, 240), (30, 120), "recovery"),
    "critical": Course("cpu_pct", (10, 15), (30, 90), "recovery"),
    # Not incidents: a burst that reverts, busy hours, a maintenance window.
    "spike": Course("cpu_pct", (1, 3), (2, 10), "reset"),
    "heavy_load": Course("cpu_pct", (8, 12), (30, 120), "recovery"),
    "maintenance": Course(None, (3, 6), (30, 120), "recovery"),
}
#: Odds of each kind among random episodes; spikes are the commonest, as in real fleets.
EPISODES: Final[dict[str, float]] = {
    "memory_leak": 0.18,
    "disk_fill": 0.12,
    "creeping_load": 0.10,
    "critical": 0.07,
    "spike": 0.33,
    "heavy_load": 0.12,
    "maintenance": 0.08,
}
assert set(EPISODES) == set(COURSES)

BATCH_JOB: Final = "batch_job"
#: Share of servers with a daily batch job; its length, and the daily jitter of its
#: start and length (minutes either way).
BATCH_SHARE: Final = 0.25
BATCH_MINUTES: Final = (30.0, 90.0)
BATCH_JITTER: Final = 5
BATCH_RAMP: Final = (3.0, 6.0)

#: Quiet minutes after an episode (and around a batch window) before the next one.
COOLDOWN_MINUTES: Final = 60
_SETTLE_MINUTES: Final = {"reset": RESET_MINUTES[1], "recovery": RECOVERY_MINUTES}


@dataclass(frozen=True)
class Planned:
    """An episode to start: on server ``row`` at simulated ``minute``."""

    row: int
    kind: str
    minute: int
    ramp: float
    hold: float
    then: str

    @property
    def length(self) -> float:
        """Minutes until the server is healthy again (at most)."""
        return self.ramp + self.hold + _SETTLE_MINUTES[self.then]


@dataclass(frozen=True)
class Episode:
    server_id: str
    kind: str
    metric: str | None  # the metric the episode drives
    start: datetime
    breach_at: datetime | None  # first 5-minute step with ``metric`` at its critical level
    end: datetime  # when the server was healthy again


def _metric_of(kind: str) -> str | None:
    return "cpu_pct" if kind == BATCH_JOB else COURSES[kind].metric


def _batch_jobs(row: int, minutes: int, rng: np.random.Generator) -> list[Planned]:
    """One server's daily job: the same time of day and about the same length every day."""
    start_of_day = int(rng.integers(0, MINUTES_PER_DAY))
    length = float(rng.uniform(*BATCH_MINUTES))
    jobs = []
    for day in range(math.ceil(minutes / MINUTES_PER_DAY)):
        start = day * MINUTES_PER_DAY + start_of_day + int(
            rng.integers(-BATCH_JITTER, BATCH_JITTER + 1))
        duration = length + float(rng.uniform(-BATCH_JITTER, BATCH_JITTER))
        ramp = float(rng.uniform(*BATCH_RAMP))
        job = Planned(row, BATCH_JOB, start, ramp, duration - ramp, "reset")
        if start >= 0 and start + job.length < minutes:
            jobs.append(job)
    return jobs


def plan_episodes(
    servers: int, minutes: int, *, seed: int, episodes_per_server_day: float,
    batch_share: float = BATCH_SHARE,
) -> list[Planned]:
    """Every episode of a run, ordered by start: batch jobs, then random ones in the gaps.

    Pure and deterministic in ``seed``. Random episodes arrive as a Poisson process per
    server, never overlap one another or a batch window (with ``COOLDOWN_MINUTES`` of
    calm around each) and all end before the run does, so each one's course is known.
    """
    rng = np.random.default_rng([seed, 1])
    kinds = list(EPISODES)
    odds = np.array([EPISODES[k] for k in kinds])
    odds = odds / odds.sum()
    # No random episodes at all: the gap between them is infinite.
    mean_gap = MINUTES_PER_DAY / episodes_per_server_day if episodes_per_server_day > 0 else 0.0
    # An exact share (rounded), so a fleet's batch load does not depend on the luck of the draw.
    has_batch = np.zeros(servers, dtype=bool)
    has_batch[rng.choice(servers, size=round(servers * batch_share), replace=False)] = True
    plan: list[Planned] = []
    for row in range(servers):
        jobs = _batch_jobs(row, minutes, rng) if has_batch[row] else []
        plan += jobs
        blocked = [(j.minute - COOLDOWN_MINUTES, j.minute + j.length + COOLDOWN_MINUTES)
                   for j in jobs]
        t = rng.exponential(mean_gap) if mean_gap else math.inf
        while t < minutes:
            kind = str(rng.choice(kinds, p=odds))
            course = COURSES[kind]
            ramp = float(np.exp(rng.uniform(*np.log(course.ramp))))
            episode = Planned(row, kind, int(t), ramp, float(rng.uniform(*course.hold)),
                              course.then)
            end = episode.minute + episode.length + COOLDOWN_MINUTES
            clash = [b for b in blocked if b[0] < end and episode.minute < b[1]]
            if clash:
                t = max(b[1] for b in clash) + rng.exponential(mean_gap)
                continue
            if episode.minute + episode.length < minutes:
                plan.append(episode)
            t = end + rng.exponential(mean_gap)
    return sorted(plan, key=lambda p: (p.minute, p.row))


def simulate_history(
    *,
    days: float,
    servers: int | list[str] = 20,
    seed: int = 7,
    episodes_per_server_day: float = 1.0,
    batch_share: float = BATCH_SHARE,
    start: datetime | None = None,
    healthy_only: bool = False,
) -> tuple[pd.DataFrame, list[Episode]]:
    """5-minute steps in the metric-event columns, and the episodes that ran, by start.

    ``healthy_only`` injects nothing, batch jobs included: a run for counting false alerts.
    """
    ids = default_fleet(servers) if isinstance(servers, int) else list(servers)
    start = start or datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    simulator = FleetSimulator(ids, seed=seed, start=start)
    minutes = int(days * MINUTES_PER_DAY)
    plan = [] if healthy_only else plan_episodes(
        len(ids), minutes, seed=seed, episodes_per_server_day=episodes_per_server_day,
        batch_share=batch_share)
    by_minute: dict[int, list[Planned]] = {}
    for planned in plan:
        by_minute.setdefault(planned.minute, []).append(planned)
    running: dict[int, Planned] = {}
    finished: list[tuple[Planned, int]] = []
    values = np.empty((minutes, len(ids), len(METRICS)), dtype=np.float32)
    for minute in range(minutes):
        for planned in by_minute.get(minute, ()):
            simulator.start_episode(ids[planned.row], planned.kind, ramp_minutes=planned.ramp,
                                    hold_minutes=planned.hold, then=planned.then)
            running[planned.row] = planned
        values[minute] = simulator.values_at(start + timedelta(minutes=minute))
        if running:
            healthy = simulator.healthy()
            for row in [r for r in running if healthy[r]]:
                finished.append((running.pop(row), minute))
    steps = _steps(values)
    episodes = [_episode(p, end, ids, steps, start) for p, end in finished]
    return _frame(steps, ids, start), sorted(episodes, key=lambda e: (e.start, e.server_id))


def _steps(values: np.ndarray) -> np.ndarray:
    """Minutes averaged into 5-minute steps: (steps, servers, metrics)."""
    minutes = values.shape[0] - values.shape[0] % STEP_MINUTES
    return values[:minutes].reshape(-1, STEP_MINUTES, *values.shape[1:]).mean(axis=1)


def _episode(
    planned: Planned, end_minute: int, ids: Sequence[str], steps: np.ndarray, start: datetime
) -> Episode:
    server = ids[planned.row]
    metric = _metric_of(planned.kind)
    breach_at = None
    if metric is not None:
        critical = thresholds_for(profile_for(server))[metric].critical
        first, last = planned.minute // STEP_MINUTES, end_minute // STEP_MINUTES
        series = steps[first: last + 1, planned.row, METRICS.index(metric)]
        above = np.flatnonzero(series >= critical)
        if above.size:
            breach_at = start + timedelta(minutes=(first + int(above[0])) * STEP_MINUTES)
    return Episode(server, planned.kind, metric, start + timedelta(minutes=planned.minute),
                   breach_at, start + timedelta(minutes=end_minute))


def _frame(steps: np.ndarray, ids: list[str], start: datetime) -> pd.DataFrame:
    times = pd.date_range(start, periods=steps.shape[0], freq=f"{STEP_MINUTES}min", tz=UTC)
    frames = [
        pd.DataFrame(steps[:, row, :], columns=list(METRICS)).assign(
            server_id=server_id, timestamp=times
        )
        for row, server_id in enumerate(ids)
    ]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["server_id", "timestamp", *METRICS]]


def episodes_frame(episodes: list[Episode]) -> pd.DataFrame:
    return pd.DataFrame([asdict(e) for e in episodes])
