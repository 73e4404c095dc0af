"""Recorded simulator history for training and evaluation (``fleetcast train --simulate``).

It runs the same simulator as the live producer, minute by minute, and
injects incidents at random: the slow failure modes the alerts exist to catch
(memory leaks, filling disks, creeping load) and sudden critical episodes,
plus heavy load and maintenance windows that are *not* incidents. Each
episode lasts its ramp plus a while at its worst, then the server recovers.
The minutes are averaged into 5-minute steps exactly as the stream processor
does, so a model trains on what it will see. The episode log is the ground
truth for judging alerts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from producers.fleet import default_fleet
from producers.simulator import FleetSimulator
from schemas.common import METRICS

STEP_MINUTES = 5
#: Episode kinds and their odds; the last two are normal operations, not incidents.
EPISODES = {
    "memory_leak": 0.25,
    "disk_fill": 0.2,
    "creeping_load": 0.2,
    "critical": 0.15,
    "heavy_load": 0.12,
    "maintenance": 0.08,
}
#: Minutes an episode stays at its worst before the server is told to recover.
HOLD_MINUTES = (30, 120)


@dataclass(frozen=True)
class Episode:
    server_id: str
    scenario: str
    start: datetime
    end: datetime  # when ``healthy`` was applied (recovery starts)


def simulate_history(
    *,
    days: float,
    servers: int | list[str] = 20,
    seed: int = 7,
    episodes_per_server_day: float = 0.5,
    start: datetime | None = None,
    healthy_only: bool = False,
) -> tuple[pd.DataFrame, list[Episode]]:
    """5-minute steps in the metric-event columns, and the episodes that were injected."""
    ids = default_fleet(servers) if isinstance(servers, int) else list(servers)
    start = start or datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
    simulator = FleetSimulator(ids, seed=seed, start=start)
    rng = np.random.default_rng([seed, 1])
    minutes = int(days * 24 * 60)
    kinds, odds = list(EPISODES), np.array(list(EPISODES.values()))
    odds = odds / odds.sum()
    busy_until = np.zeros(len(ids), dtype=int)  # minute index when a server is free again
    ends: dict[int, tuple[int, Episode]] = {}
    episodes: list[Episode] = []
    per_minute = 0.0 if healthy_only else episodes_per_server_day / (24 * 60)
    values = np.empty((minutes, len(ids), len(METRICS)), dtype=np.float32)
    for minute in range(minutes):
        now = start + timedelta(minutes=minute)
        starting = np.flatnonzero((busy_until <= minute) & (rng.random(len(ids)) < per_minute))
        for row in starting.tolist():
            kind = str(rng.choice(kinds, p=odds))
            simulator.set_scenario(kind, [ids[row]])
            ramp = 90 if kind in ("memory_leak", "disk_fill", "creeping_load") else 15
            hold = int(rng.integers(*HOLD_MINUTES))
            busy_until[row] = minute + ramp + hold + 60  # + recovery before the next one
            ends[row] = (minute + ramp + hold, Episode(ids[row], kind, now, now))
        for row, (end_minute, episode) in list(ends.items()):
            if end_minute == minute:
                simulator.set_scenario("healthy", [ids[row]])
                episodes.append(Episode(episode.server_id, episode.scenario, episode.start, now))
                del ends[row]
        values[minute] = simulator.values_at(now)
    return _to_steps(values, ids, start), episodes


def _to_steps(values: np.ndarray, ids: list[str], start: datetime) -> pd.DataFrame:
    minutes = values.shape[0] - values.shape[0] % STEP_MINUTES
    steps = values[:minutes].reshape(-1, STEP_MINUTES, len(ids), len(METRICS)).mean(axis=1)
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
