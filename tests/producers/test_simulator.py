from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from producers.fleet import default_fleet
from producers.scenarios import CRITICAL_LEVELS, LATENCY_CRITICAL_FACTOR, RAMP_METRIC
from producers.simulator import FleetSimulator
from schemas.common import METRICS
from schemas.control_event import ControlEvent
from schemas.metric_event import MetricEvent
from schemas.profiles import profile_for
from schemas.thresholds import thresholds_for

FRIDAY = datetime(2024, 6, 7, tzinfo=UTC)  # three days from here: a workday and a weekend
MONDAY_9 = datetime(2024, 6, 3, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
COL = {name: i for i, name in enumerate(METRICS)}


def simulate(sim: FleetSimulator, minutes: int) -> np.ndarray:
    """(minutes, servers, metrics) from the simulator's next minute on."""
    return np.stack([sim.values_at(sim.next_time) for _ in range(minutes)])


def series(sim: FleetSimulator, values: np.ndarray, server: str, metric: str) -> np.ndarray:
    return values[:, sim.server_ids.index(server), COL[metric]]


def assert_healthy(sim: FleetSimulator, values: np.ndarray, servers: list[str]) -> None:
    """The brief's healthy envelope: far from anything that looks like trouble."""
    for server in servers:
        row = values[:, sim.server_ids.index(server)]
        mem_limit = 94 if sim.profile_of(server) == "database" else 85
        latency_limit = 3 * sim.baseline(server)["latency_ms"]
        assert row[:, COL["cpu_pct"]].max() < 85, server
        assert row[:, COL["mem_pct"]].max() < mem_limit, server
        assert row[:, COL["disk_pct"]].max() < 80, server
        assert row[:, COL["latency_ms"]].max() < latency_limit, server
        assert row[:, COL["error_rate"]].max() < 0.02, server


def critical_of(server: str, metric: str) -> float:
    return thresholds_for(profile_for(server))[metric].critical


def is_critical(sim: FleetSimulator, server: str, row: np.ndarray) -> bool:
    latency = LATENCY_CRITICAL_FACTOR * sim.baseline(server)["latency_ms"]
    return bool(
        row[COL["cpu_pct"]] >= 97 and row[COL["mem_pct"]] >= 97
        and row[COL["latency_ms"]] >= latency
        and row[COL["error_rate"]] >= CRITICAL_LEVELS["error_rate"]
    )


# -- determinism --------------------------------------------------------------------


def scripted_run(seed: int) -> list[MetricEvent]:
    sim = FleetSimulator(default_fleet(20), seed=seed, start=MONDAY_9)
    events: list[MetricEvent] = []
    for minute, batch in enumerate(sim.step(180)):
        events += batch
        if minute == 30:
            sim.set_scenario("degrading")
        if minute == 60:
            sim.apply(ControlEvent(scenario="critical", servers=["ppweb002", "ppdb001"]))
        if minute == 120:
            sim.set_scenario("healthy")
    return events


def test_same_seed_same_events_and_another_seed_differs() -> None:
    first, again, other = scripted_run(5), scripted_run(5), scripted_run(6)
    assert first == again
    assert len(first) == len(other)
    assert first != other


def test_step_gives_one_valid_event_per_server_per_minute() -> None:
    sim = FleetSimulator(default_fleet(20), seed=1, start=MONDAY_9)
    batches = list(sim.step(3))
    assert [len(batch) for batch in batches] == [20, 20, 20]
    for minute, batch in enumerate(batches):
        assert [e.server_id for e in batch] == default_fleet(20)
        assert {e.timestamp for e in batch} == {MONDAY_9 + minute * MINUTE}
        for event in batch:
            assert MetricEvent.from_bytes(event.to_bytes()) == event
            assert all(value is not None for value in event.values().values())
    assert sim.now == MONDAY_9 + 2 * MINUTE


# -- a healthy fleet ------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_days() -> tuple[FleetSimulator, np.ndarray]:
    sim = FleetSimulator(default_fleet(20), seed=11, start=FRIDAY)
    return sim, simulate(sim, 3 * 24 * 60)


def test_healthy_fleet_stays_within_normal_ranges(
    three_days: tuple[FleetSimulator, np.ndarray],
) -> None:
    sim, values = three_days
    assert sim.active_overrides() == {}
    assert_healthy(sim, values, sim.server_ids)


def test_profiles_look_like_their_kind(three_days: tuple[FleetSimulator, np.ndarray]) -> None:
    sim, values = three_days
    # A database's memory sits high because caches fill it; that is normal.
    db_mem = series(sim, values, "ppdb001", "mem_pct")
    assert 85 <= np.median(db_mem) <= 92
    ml_cpu = series(sim, values, "ppml0001", "cpu_pct")
    assert np.percentile(ml_cpu, 5) >= 55 and np.percentile(ml_cpu, 95) <= 75
    web_latency = series(sim, values, "ppweb001", "latency_ms")
    assert np.percentile(web_latency, 5) >= 38 and np.percentile(web_latency, 95) <= 82
    # Web front ends move more traffic than a generic box; ingest takes in the most.
    net_in = {s: series(sim, values, s, "net_in_mbps").mean() for s in ("ppweb001", "ppsrv001")}
    assert net_in["ppweb001"] > 5 * net_in["ppsrv001"]
    assert series(sim, values, "ppdi001", "net_in_mbps").mean() > net_in["ppweb001"]


def test_daily_and_weekly_rhythm(three_days: tuple[FleetSimulator, np.ndarray]) -> None:
    sim, values = three_days
    cpu = series(sim, values, "ppweb001", "cpu_pct")
    hours = np.arange(len(cpu)) / 60  # from Friday 00:00

    def mean_between(start_h: float, end_h: float) -> float:
        return float(cpu[(hours >= start_h) & (hours < end_h)].mean())

    friday_night, friday_noon = mean_between(0, 5), mean_between(10, 16)
    saturday_noon = mean_between(24 + 10, 24 + 16)
    assert friday_noon > friday_night + 20  # business-hours peak
    assert friday_noon > saturday_noon + 10  # quieter weekend


def test_data_ingest_disk_fills_during_the_day_and_is_cleaned_at_night(
    three_days: tuple[FleetSimulator, np.ndarray],
) -> None:
    sim, values = three_days
    disk = series(sim, values, "ppdi001", "disk_pct")
    assert disk[23 * 60] > disk[60] + 8
    assert disk[25 * 60] < disk[23 * 60] - 8


def test_noise_is_autocorrelated(three_days: tuple[FleetSimulator, np.ndarray]) -> None:
    sim, values = three_days
    start = FRIDAY
    baselines = np.stack([sim.baseline_at(start + k * MINUTE) for k in range(len(values))])
    residuals = values - baselines  # healthy all along: what is left is the noise
    for column, metric in enumerate(METRICS):
        noise = residuals[:, :, column]
        assert noise.std() > 0, metric
        centred = noise - noise.mean(axis=0)
        lag1 = (centred[1:] * centred[:-1]).sum() / (centred**2).sum()
        assert lag1 > 0.45, f"{metric}: lag-1 autocorrelation {lag1:.2f}"


# -- scenarios ------------------------------------------------------------------------


@pytest.fixture
def warm_fleet() -> FleetSimulator:
    sim = FleetSimulator(default_fleet(20), seed=3, start=MONDAY_9)
    simulate(sim, 30)
    return sim


def test_critical_on_one_server_within_twenty_minutes(warm_fleet: FleetSimulator) -> None:
    sim = warm_fleet
    assert sim.set_scenario("critical", ["ppdb001"]) == {"ppdb001": "critical"}
    assert sim.active_overrides() == {"ppdb001": "critical"}
    values = simulate(sim, 40)
    db = values[:, sim.server_ids.index("ppdb001")]
    first = next(m for m, row in enumerate(db) if is_critical(sim, "ppdb001", row))
    assert first < 20
    assert all(is_critical(sim, "ppdb001", row) for row in db[20:])
    assert_healthy(sim, values, [s for s in sim.server_ids if s != "ppdb001"])


@pytest.mark.parametrize(
    ("server", "scenario", "kind"),
    [
        ("ppml0001", "degrading", "memory_leak"),
        ("ppdb001", "degrading", "disk_fill"),
        ("ppweb001", "degrading", "creeping_load"),
        ("ppcon01", "disk_fill", "disk_fill"),
        ("ppsrv001", "creeping_load", "creeping_load"),
        # A database's memory is critical only at 99.5 %: its leak must still get there.
        ("ppdb002", "memory_leak", "memory_leak"),
        ("ppdi001", "disk_fill", "disk_fill"),
    ],
)
def test_ramps_climb_steadily_past_the_profiles_critical_level_and_stay(
    warm_fleet: FleetSimulator, server: str, scenario: str, kind: str
) -> None:
    sim = warm_fleet
    sim.set_scenario(scenario, [server])
    assert sim.state_of(server) == kind
    metric = RAMP_METRIC[kind]
    critical = max(CRITICAL_LEVELS[metric], critical_of(server, metric))
    # 5-minute means, as the forecaster sees them.
    ramp = series(sim, simulate(sim, 240), server, metric).reshape(-1, 5).mean(axis=1)
    crossed = int(np.argmax(ramp >= critical))
    assert ramp[crossed] >= critical
    assert 12 <= crossed <= 24, f"{kind} reached critical after {5 * crossed} min"
    # A sustained ramp, not one that bends back: every 10-minute mean above the
    # previous one until critical, and by about as much each time.
    blocks = ramp[: crossed - crossed % 2].reshape(-1, 2).mean(axis=1)
    rises = np.diff(blocks)
    assert (rises > 0).all(), blocks
    assert rises[-3:].mean() > 0.5 * rises[:3].mean(), "the ramp must not flatten before breach"
    # An operator's scenario holds until the next command.
    assert (ramp[crossed:] >= critical - 1).all()
    assert sim.state_of(server) == kind
    if kind == "disk_fill":
        assert ramp[-12:].mean() > 99.5, "a filling disk ends full"


def test_degrading_hits_a_quarter_and_critical_half_of_the_fleet() -> None:
    sim = FleetSimulator(default_fleet(20), seed=4, start=MONDAY_9)
    degrading = sim.set_scenario("degrading")
    assert len(degrading) == 5
    expected_kind = {"ml_compute": "memory_leak", "database": "disk_fill",
                     "web_api": "creeping_load"}
    for server, kind in degrading.items():
        assert kind == expected_kind.get(sim.profile_of(server), kind)
        assert kind in RAMP_METRIC
    assert sim.active_overrides() == degrading

    critical = sim.set_scenario("critical")
    assert len(critical) == 10
    assert set(critical.values()) == {"critical"}
    assert len(sim.active_overrides()) == len(set(degrading) | set(critical))

    # The same seed picks the same servers; the same command again changes nothing.
    again = FleetSimulator(default_fleet(20), seed=4, start=MONDAY_9)
    assert again.set_scenario("degrading") == degrading
    assert sim.set_scenario("critical") == {}


def test_fleet_wide_share_for_other_sizes() -> None:
    sim = FleetSimulator(default_fleet(40), seed=4)
    assert len(sim.set_scenario("degrading")) == 10
    assert len(sim.set_scenario("critical")) == 20
    assert len(FleetSimulator(["ppdb001"], seed=4).set_scenario("degrading")) == 1


@pytest.mark.parametrize("scenario", ["heavy_load", "maintenance", "memory_leak"])
def test_other_fleet_wide_scenarios_hit_everyone(scenario: str) -> None:
    sim = FleetSimulator(default_fleet(20), seed=4)
    assert set(sim.set_scenario(scenario).values()) == {scenario}
    assert len(sim.active_overrides()) == 20


def test_heavy_load_and_maintenance_move_load(warm_fleet: FleetSimulator) -> None:
    sim = warm_fleet
    before = simulate(sim, 10)
    sim.set_scenario("heavy_load", ["ppweb001"])
    sim.set_scenario("maintenance", ["ppweb002"])
    after = simulate(sim, 20)[10:]

    def cpu(values: np.ndarray, server: str) -> float:
        return float(series(sim, values, server, "cpu_pct").mean())

    assert cpu(after, "ppweb001") > cpu(before, "ppweb001") + 15
    assert cpu(after, "ppweb002") < 10
    assert series(sim, after, "ppweb002", "net_out_mbps").max() < 100


def test_healthy_recovers_smoothly_within_about_thirty_minutes(
    warm_fleet: FleetSimulator,
) -> None:
    sim = warm_fleet
    sim.set_scenario("critical", ["ppdb001"])
    simulate(sim, 20)
    assert sim.set_scenario("healthy", ["ppdb001"]) == {"ppdb001": "recovery"}
    assert sim.state_of("ppdb001") == "recovery"
    assert sim.active_overrides() == {}
    values = simulate(sim, 60)
    cpu = series(sim, values, "ppdb001", "cpu_pct")
    assert cpu[0] > 90  # a decay, not a jump back
    assert (np.diff(cpu[:25]) < 5).all()
    assert sim.state_of("ppdb001") == "healthy"
    assert_healthy(sim, values[32:], ["ppdb001"])


def test_a_command_naming_an_unknown_server_is_refused_and_changes_nothing() -> None:
    sim = FleetSimulator(default_fleet(7), seed=2, start=MONDAY_9)
    with pytest.raises(ValueError, match=r"unknown server\(s\) 'mystery-box'"):
        sim.set_scenario("critical", ["ppdb001", "mystery-box"])
    assert sim.state_of("ppdb001") == "healthy", "all or nothing"
    assert "mystery-box" not in sim.server_ids


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown scenario"):
        FleetSimulator(["ppdb001"]).set_scenario("explode")


def test_ten_thousand_servers_in_well_under_100_ms() -> None:
    sim = FleetSimulator(default_fleet(10_000), seed=1, start=MONDAY_9)
    sim.set_scenario("degrading")
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        values = sim.values_at(sim.next_time)
        timings.append(time.perf_counter() - began)
    assert values.shape == (10_000, len(METRICS))
    assert min(timings) < 0.05
    # Building the 10,000 validated MetricEvents costs more than the simulation itself.
    began = time.perf_counter()
    assert len(sim.events_at(sim.next_time)) == 10_000
    assert time.perf_counter() - began < 1.0


# -- episodes that run their course ----------------------------------------------------


def test_a_leak_episode_climbs_to_critical_then_the_service_restarts(
    warm_fleet: FleetSimulator,
) -> None:
    sim = warm_fleet
    before = sim.baseline("ppml0001")["mem_pct"]
    sim.start_episode("ppml0001", "memory_leak", ramp_minutes=240, hold_minutes=30)
    mem = series(sim, simulate(sim, 300), "ppml0001", "mem_pct")
    critical = critical_of("ppml0001", "mem_pct")
    assert (mem[:200] < critical).all(), "still climbing"
    assert (mem[240:270] >= critical).all(), "at its worst for the hold"
    # A restart, not a slow recovery: back to normal within five minutes.
    assert (mem[276:] < before + 10).all()
    assert sim.state_of("ppml0001") == "healthy"
    assert sim.active_overrides() == {}


def test_a_disk_fill_episode_reaches_100_then_is_cleaned(warm_fleet: FleetSimulator) -> None:
    sim = warm_fleet
    sim.start_episode("ppdb001", "disk_fill", ramp_minutes=120, hold_minutes=20)
    disk = series(sim, simulate(sim, 180), "ppdb001", "disk_pct")
    assert disk[120:140].min() > 99.5
    assert disk[150:].max() < 75
    assert sim.state_of("ppdb001") == "healthy"


def test_a_spike_reverts_within_its_span(warm_fleet: FleetSimulator) -> None:
    sim = warm_fleet
    quiet = series(sim, simulate(sim, 10), "ppweb001", "cpu_pct").mean()
    sim.start_episode("ppweb001", "spike", ramp_minutes=2, hold_minutes=5)
    cpu = series(sim, simulate(sim, 30), "ppweb001", "cpu_pct")
    assert cpu[2:7].min() > quiet + 20
    assert cpu.max() < critical_of("ppweb001", "cpu_pct"), "noise, not an incident"
    assert abs(cpu[15:].mean() - quiet) < 5
    assert sim.state_of("ppweb001") == "healthy"


def test_episodes_refuse_what_they_cannot_run() -> None:
    sim = FleetSimulator(["ppdb001"], seed=1)
    with pytest.raises(ValueError, match="not an episode"):
        sim.start_episode("ppdb001", "recovery", ramp_minutes=5, hold_minutes=5)
    with pytest.raises(ValueError, match="ends with"):
        sim.start_episode("ppdb001", "spike", ramp_minutes=5, hold_minutes=5, then="explode")
    with pytest.raises(ValueError, match="unknown server"):
        sim.start_episode("ppdb009", "spike", ramp_minutes=5, hold_minutes=5)
    # Recorder-only kinds are no operator commands.
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.set_scenario("batch_job", ["ppdb001"])


def test_a_restored_scenario_goes_on_from_where_it_was():
    start = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    sim = FleetSimulator(["ppdb001", "ppml0001"], seed=3, start=start)
    sim.restore("ppdb001", "critical", since=start - timedelta(minutes=30))
    assert sim.state_of("ppdb001") == "critical" and sim.state_of("ppml0001") == "healthy"
    assert sim.since("ppdb001") == start - timedelta(minutes=30)
    assert sim.since("ppml0001") == start
    first = {e.server_id: e for e in sim.events_at(start)}
    # Its ramp (10-14 min) was over long ago: at its worst at once, not ramping again.
    assert (first["ppdb001"].cpu_pct or 0) >= 97 and (first["ppdb001"].mem_pct or 0) >= 97
    assert (first["ppml0001"].cpu_pct or 0) < 90
    with pytest.raises(ValueError, match="not a scenario"):
        sim.restore("ppml0001", "recovery", since=start)
    with pytest.raises(ValueError, match="unknown server"):
        sim.restore("ppxx9", "critical", since=start)
