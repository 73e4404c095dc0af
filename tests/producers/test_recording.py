"""The recorded history: episodes that run their course, and a log that tells the truth."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from producers.recording import (
    BATCH_JITTER,
    BATCH_MINUTES,
    COOLDOWN_MINUTES,
    EPISODES,
    Episode,
    episodes_frame,
    plan_episodes,
    simulate_history,
)
from schemas.profiles import profile_for
from schemas.thresholds import thresholds_for

DAYS = 5
STEP = timedelta(minutes=5)


@pytest.fixture(scope="module")
def run() -> tuple[pd.DataFrame, list[Episode]]:
    return simulate_history(days=DAYS, servers=20, seed=3)


def critical(server: str, metric: str) -> float:
    return thresholds_for(profile_for(server))[metric].critical


def values(frame: pd.DataFrame, server: str, metric: str) -> pd.Series:
    rows = frame[frame["server_id"] == server]
    return pd.Series(rows[metric].to_numpy(), index=pd.DatetimeIndex(rows["timestamp"]))


def step(t: datetime) -> datetime:
    """The 5-minute step holding minute ``t`` (episode starts and ends are minutes)."""
    return t - timedelta(minutes=t.minute % 5)


def of_kind(episodes: list[Episode], kind: str) -> list[Episode]:
    chosen = [e for e in episodes if e.kind == kind]
    assert chosen, f"no {kind} in the run"
    return chosen


def test_every_kind_runs_and_episodes_on_a_server_never_overlap(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    frame, episodes = run
    assert {e.kind for e in episodes} == set(EPISODES) | {"batch_job"}
    assert episodes == sorted(episodes, key=lambda e: (e.start, e.server_id))
    for server in {e.server_id for e in episodes}:
        mine = sorted((e for e in episodes if e.server_id == server), key=lambda e: e.start)
        for earlier, later in itertools.pairwise(mine):
            assert earlier.end <= later.start, (earlier, later)
    assert all(e.end <= frame["timestamp"].max() + STEP for e in episodes)


def test_a_leak_climbs_until_memory_is_critical_and_then_restarts(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    frame, episodes = run
    for leak in of_kind(episodes, "memory_leak"):
        mem = values(frame, leak.server_id, "mem_pct")
        limit = critical(leak.server_id, "mem_pct")
        assert leak.metric == "mem_pct" and leak.breach_at is not None
        assert mem[leak.breach_at] >= limit
        assert (mem[step(leak.start): leak.breach_at - STEP] < limit).all(), "first breach logged"
        # A slow climb (an hour or more), not a jump: most of the way up a step before.
        assert leak.breach_at - leak.start >= timedelta(minutes=45)
        assert mem[leak.breach_at - STEP] > (mem[step(leak.start)] + limit) / 2
        # An incident by the definition (3 steps at or above critical), then a
        # restart once the leak has run its last few percent and the hold (at most an
        # hour) is over: not a slow recovery.
        assert (mem[leak.breach_at: leak.breach_at + 2 * STEP] >= limit).all(), leak
        tail = (leak.breach_at - leak.start) / 10
        assert leak.end - leak.breach_at <= tail + timedelta(minutes=65), leak
        # The restart: back to normal (well below critical) once the episode ends.
        assert mem[step(leak.end) + STEP] < limit - 8, leak


def test_a_disk_fills_to_100_and_is_then_cleaned(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    frame, episodes = run
    for fill in of_kind(episodes, "disk_fill"):
        disk = values(frame, fill.server_id, "disk_pct")
        assert fill.breach_at is not None
        assert disk[step(fill.start): step(fill.end)].max() > 99.5
        assert (disk[fill.breach_at: fill.breach_at + 2 * STEP] >= 95).all(), fill
        assert disk[step(fill.end) + STEP] < disk[step(fill.start): step(fill.end)].max() - 20, fill


def test_a_daily_job_saturates_the_cpu_at_the_same_time_on_the_same_servers(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    frame, episodes = run
    jobs = of_kind(episodes, "batch_job")
    servers = {j.server_id for j in jobs}
    assert len(servers) == 5  # a quarter of the fleet
    for server in servers:
        mine = [j for j in jobs if j.server_id == server]
        assert len(mine) >= DAYS - 1  # every day (one may fall off either end of the run)
        assert len({j.start.date() for j in mine}) == len(mine)
        minutes = [j.start.hour * 60 + j.start.minute for j in mine]
        spread = (max(minutes) - min(minutes)) % (24 * 60)
        assert spread <= 2 * BATCH_JITTER, f"{server} starts at {minutes}"
        cpu = values(frame, server, "cpu_pct")
        for job in mine:
            assert job.breach_at is not None and job.breach_at - job.start <= 2 * STEP
            length = (job.end - job.start).total_seconds() / 60
            assert BATCH_MINUTES[0] - BATCH_JITTER <= length <= BATCH_MINUTES[1] + 2 * BATCH_JITTER
            inside = cpu[job.breach_at: job.end - 2 * STEP]
            assert (inside >= critical(server, "cpu_pct")).all()
    # The seed, not the run's length, picks the servers that run jobs.
    again = [e for e in simulate_history(days=2, servers=20, seed=3)[1] if e.kind == "batch_job"]
    assert {j.server_id for j in again} == servers


def test_a_spike_reverts_within_its_span_and_is_no_incident(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    frame, episodes = run
    for spike in of_kind(episodes, "spike"):
        cpu = values(frame, spike.server_id, "cpu_pct")
        assert spike.breach_at is None
        assert spike.end - spike.start <= timedelta(minutes=20)
        before = cpu[step(spike.start) - 6 * STEP: step(spike.start) - STEP].mean()
        assert cpu[step(spike.start): step(spike.end)].max() > before + 10, spike
        assert abs(cpu[step(spike.end) + STEP] - before) < 10, spike


def test_the_normal_operations_are_no_incidents(
    run: tuple[pd.DataFrame, list[Episode]],
) -> None:
    _, episodes = run
    assert all(e.breach_at is None for e in of_kind(episodes, "heavy_load"))
    maintenance = of_kind(episodes, "maintenance")
    assert all(e.metric is None and e.breach_at is None for e in maintenance)


def test_the_same_seed_gives_the_same_history() -> None:
    first = simulate_history(days=1, servers=8, seed=5)
    again = simulate_history(days=1, servers=8, seed=5)
    other = simulate_history(days=1, servers=8, seed=6)
    pd.testing.assert_frame_equal(first[0], again[0])
    assert first[1] == again[1]
    assert not first[0].equals(other[0])
    assert plan_episodes(8, 1440, seed=5, episodes_per_server_day=1) == plan_episodes(
        8, 1440, seed=5, episodes_per_server_day=1)


def test_plans_leave_a_calm_between_episodes_and_end_within_the_run() -> None:
    minutes = 3 * 24 * 60
    plan = plan_episodes(10, minutes, seed=2, episodes_per_server_day=3)
    assert all(p.minute + p.length < minutes for p in plan)
    for row in range(10):
        mine = [p for p in plan if p.row == row]
        for earlier, later in itertools.pairwise(mine):
            assert later.minute >= earlier.minute + earlier.length, (earlier, later)
            if "batch_job" in (earlier.kind, later.kind):
                assert later.minute >= earlier.minute + earlier.length + COOLDOWN_MINUTES


def test_a_healthy_run_injects_nothing() -> None:
    frame, episodes = simulate_history(days=1, servers=8, seed=4, healthy_only=True)
    assert episodes == []
    assert frame["cpu_pct"].max() < 85


def test_the_episode_log_as_a_table(run: tuple[pd.DataFrame, list[Episode]]) -> None:
    _, episodes = run
    table = episodes_frame(episodes)
    assert list(table.columns) == ["server_id", "kind", "metric", "start", "breach_at", "end"]
    assert len(table) == len(episodes)
    assert np.all(table["end"] > table["start"])
