"""A pure fleet simulator: one MetricEvent per server per simulated minute, no Kafka, no clock.

Every server follows its profile's baseline (daily and weekly rhythm), with
AR(1) noise per metric so that consecutive minutes look like a real time series,
not white noise. Scenarios move servers away from the baseline and back (see
``producers.scenarios``). An operator's scenario holds until the next command;
an episode the recorder starts (``start_episode``) runs its course by itself:
its ramp, a while at its worst, then a restart or a recovery. The state of the
whole fleet lives in a few arrays with one row per server, so a step costs a
handful of numpy operations whatever the fleet size. Everything random comes
from generators seeded with ``seed``: the same seed, servers, times and
commands give the same events.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
from pydantic import TypeAdapter, ValidationError

from producers.normal_levels import (
    COLUMN,
    DECIMALS,
    LOWER,
    MULTIPLICATIVE,
    PHI,
    PROFILE_BASELINES,
    SERVER_SPREAD,
    UPPER,
    business_load,
    profile_arrays,
)
from producers.scenarios import (
    DEGRADING_KIND,
    RAMP_METRIC,
    RECOVERY_MINUTES,
    SETTLING,
    SPECS,
    targets,
)
from schemas.common import METRICS, ServerId
from schemas.control_event import SCENARIOS, ControlEvent
from schemas.metric_event import MetricEvent
from schemas.profiles import profile_for

log = logging.getLogger(__name__)

#: Where a server can be. ``recovery`` is the way back after ``healthy`` and ``reset``
#: the abrupt one after a restart; ``degrading`` is not a state of its own but
#: resolves to one of the ramps.
STATES: Final = ("healthy", *SETTLING, *(name for name in SPECS if name not in SETTLING))
_STATE: Final = {name: i for i, name in enumerate(STATES)}
HEALTHY: Final = _STATE["healthy"]
RECOVERY: Final = _STATE["recovery"]
_SETTLING: Final = np.array([_STATE[name] for name in SETTLING])
#: What an episode may end with (``start_episode``'s ``then``).
ENDINGS: Final = SETTLING
_NO_ENDING: Final = -1

#: Fleet-wide commands without named servers hit this share of the fleet (at least one).
FLEET_SHARE: Final[dict[str, float]] = {"degrading": 0.25, "critical": 0.5}

#: Simulations that are not told when to start begin on a Monday at midnight.
DEFAULT_START: Final = datetime(2024, 1, 1, tzinfo=UTC)

#: Noise shrinks as a metric nears its scenario target: a pegged CPU sits at 99 %.
_NOISE_DAMPING: Final = 0.85
_NOISE_CLIP: Final = 3.0
_MINUTE: Final = timedelta(minutes=1)
_DISK: Final = COLUMN["disk_pct"]
_SCALE: Final = 10.0 ** DECIMALS
_SERVER_ID: Final = TypeAdapter(ServerId)
_PROFILE_LEVELS: Final = {p: np.stack(profile_arrays(p)) for p in PROFILE_BASELINES}


@dataclass
class _Servers:
    """Per-server state, one row per server (arrays of shape (n,) or (n, metrics))."""

    quiet: np.ndarray  # healthy level at the quietest hour
    busy: np.ndarray  # healthy level at the busiest hour
    noise_sd: np.ndarray
    day_shift: np.ndarray  # hours: each server's day runs a little early or late
    peak_shift: np.ndarray  # hours: 12 for night-time batch profiles
    weekend: np.ndarray  # load factor on weekends
    disk_growth: np.ndarray  # disk percent filled per day
    z: np.ndarray  # AR(1) noise state in standard deviations
    state: np.ndarray  # index into STATES
    from_dev: np.ndarray  # deviation from baseline when the current transition began
    target: np.ndarray  # where the transition goes (where not ``keep``)
    keep: np.ndarray  # metrics that go (back) to baseline
    power: np.ndarray  # shape of the path to the target
    elapsed: np.ndarray  # minutes since the transition began
    duration: np.ndarray  # minutes the transition takes
    hold: np.ndarray  # minutes at the target after it; inf: until the next command
    then: np.ndarray  # state entered once the hold is over (``_NO_ENDING``: none)
    last_dev: np.ndarray  # noise-free deviation from baseline at the last step

    def extend(self, other: _Servers) -> None:
        for f in fields(self):
            setattr(self, f.name, np.concatenate([getattr(self, f.name), getattr(other, f.name)]))

    @property
    def mid(self) -> np.ndarray:
        return (self.quiet + self.busy) / 2


def _healthy_servers(profiles: Sequence[str], rng: np.random.Generator) -> _Servers:
    """Rows for new healthy servers, each with its own jittered baseline."""
    n, m = len(profiles), len(METRICS)
    levels = np.array([_PROFILE_LEVELS[p] for p in profiles]).reshape(n, 3, m)
    quiet, busy, noise = levels[:, 0], levels[:, 1], levels[:, 2]
    spread = 1.0 + rng.uniform(-1.0, 1.0, size=(n, m)) * SERVER_SPREAD
    baselines = [PROFILE_BASELINES[p] for p in profiles]
    return _Servers(
        quiet=quiet * spread,
        busy=busy * spread,
        noise_sd=noise,
        day_shift=rng.uniform(-0.5, 0.5, size=n),
        peak_shift=np.array([b.peak_hour_shift for b in baselines], dtype=float),
        weekend=np.array([b.weekend for b in baselines], dtype=float),
        disk_growth=np.array([b.disk_growth_per_day for b in baselines], dtype=float),
        z=np.clip(rng.standard_normal((n, m)), -_NOISE_CLIP, _NOISE_CLIP),
        state=np.full(n, HEALTHY, dtype=np.int8),
        from_dev=np.zeros((n, m)),
        target=np.zeros((n, m)),
        keep=np.ones((n, m), dtype=bool),
        power=np.ones((n, m)),
        elapsed=np.zeros(n),
        duration=np.ones(n),
        hold=np.full(n, np.inf),
        then=np.full(n, _NO_ENDING, dtype=np.int8),
        last_dev=np.zeros((n, m)),
    )


def _utc(sim_time: datetime) -> datetime:
    if sim_time.tzinfo is None:
        raise ValueError("simulated times must carry a time zone")
    return sim_time.astimezone(UTC)


class FleetSimulator:
    """Simulated metrics for a fleet; advance it with ``events_at`` or ``step``."""

    def __init__(
        self, server_ids: Iterable[str], seed: int = 7, start: datetime | None = None
    ) -> None:
        self._seed = seed % 2**64
        noise, params, scenarios = np.random.SeedSequence(self._seed).spawn(3)
        self._noise_rng = np.random.default_rng(noise)
        self._params_rng = np.random.default_rng(params)
        self._scenario_rng = np.random.default_rng(scenarios)
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        self._profiles: list[str] = []
        self._servers = _healthy_servers([], self._params_rng)
        self._start = _utc(start) if start is not None else DEFAULT_START
        self._clock: datetime | None = None
        self.add_servers(server_ids)

    # -- the fleet -----------------------------------------------------------------

    @property
    def server_ids(self) -> list[str]:
        return list(self._ids)

    @property
    def now(self) -> datetime | None:
        """The simulated time of the last step, None before the first."""
        return self._clock

    @property
    def next_time(self) -> datetime:
        """The time ``step`` simulates next: the start, then one minute after the last step."""
        return self._start if self._clock is None else self._clock + _MINUTE

    def profile_of(self, server_id: str) -> str:
        return self._profiles[self._index[server_id]]

    def add_servers(self, server_ids: Iterable[str]) -> list[str]:
        """Add servers not in the fleet yet (healthy, profile from the name); returns them.

        Raises ``ValueError`` for a name that is not a valid server id.
        """
        new = [sid for sid in dict.fromkeys(server_ids) if sid not in self._index]
        for sid in new:
            try:
                _SERVER_ID.validate_python(sid)
            except ValidationError as exc:
                raise ValueError(f"invalid server id {sid!r}: {exc}") from None
        profiles = [profile_for(sid) for sid in new]
        self._servers.extend(_healthy_servers(profiles, self._params_rng))
        for sid, profile in zip(new, profiles, strict=True):
            self._index[sid] = len(self._ids)
            self._ids.append(sid)
            self._profiles.append(profile)
        return new

    def baseline(self, server_id: str) -> dict[str, float]:
        """A server's typical healthy level per metric (midway between quiet and busy)."""
        row = self._servers.mid[self._index[server_id]]
        return dict(zip(METRICS, row.tolist(), strict=True))

    # -- scenarios -----------------------------------------------------------------

    def apply(self, event: ControlEvent) -> dict[str, str]:
        return self.set_scenario(event.scenario, event.servers)

    def set_scenario(self, scenario: str, servers: Sequence[str] = ()) -> dict[str, str]:
        """Start ``scenario`` on the named servers, or fleet-wide when none is named.

        A command naming a server outside the fleet raises ``ValueError`` and changes
        nothing. Servers already in the requested state are left
        alone, so repeating a command does not restart it. Returns the servers that
        changed, with the state each one entered.
        """
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
        chosen = self._named(servers) if servers else self._fleet_wide(scenario)
        by_state: dict[int, list[int]] = {}
        for i in chosen:
            state = self._resolve(scenario, i)
            if state != self._servers.state[i]:
                by_state.setdefault(state, []).append(i)
        changed: dict[str, str] = {}
        for state, rows in by_state.items():
            self._begin(np.array(rows), state)
            changed |= dict.fromkeys((self._ids[i] for i in rows), STATES[state])
        return changed

    def active_overrides(self) -> dict[str, str]:
        """Servers in a scenario (not healthy, not recovering), with the scenario they are in.

        A ``degrading`` server shows the ramp it is on (memory_leak, disk_fill,
        creeping_load).
        """
        state = self._servers.state
        rows = np.flatnonzero((state != HEALTHY) & ~np.isin(state, _SETTLING))
        return {self._ids[i]: STATES[self._servers.state[i]] for i in rows}

    def state_of(self, server_id: str) -> str:
        """healthy, recovery or the scenario the server is in."""
        return STATES[self._servers.state[self._index[server_id]]]

    def healthy(self) -> np.ndarray:
        """Which servers are healthy now (rows follow ``server_ids``)."""
        return self._servers.state == HEALTHY

    def start_episode(
        self, server_id: str, kind: str, *, ramp_minutes: float, hold_minutes: float,
        then: str = "reset",
    ) -> None:
        """Run ``kind`` on one server through its whole course, with no further command.

        The ramp takes ``ramp_minutes``; the server then stays at the scenario's worst
        for ``hold_minutes`` and ends with ``then``: ``reset`` (a restart or clean-up,
        back to baseline within minutes) or ``recovery`` (a 30-minute settle). Any kind
        in ``producers.scenarios.SPECS`` may run, including the recorder-only ones
        (``batch_job``, ``spike``) that operators cannot command.
        """
        if kind not in SPECS or kind in SETTLING:
            raise ValueError(f"{kind!r} is not an episode; expected one of "
                             f"{[k for k in SPECS if k not in SETTLING]}")
        if then not in ENDINGS:
            raise ValueError(f"an episode ends with one of {ENDINGS}, not {then!r}")
        if ramp_minutes <= 0 or hold_minutes < 0:
            raise ValueError("an episode needs a positive ramp and a hold of zero or more")
        (row,) = self._named([server_id])
        self._begin(np.array([row]), _STATE[kind], duration=ramp_minutes, hold=hold_minutes,
                    then=_STATE[then])

    def restore(self, server_id: str, state: str, since: datetime) -> None:
        """Put a server back into ``state`` as if it had entered it at simulated time ``since``.

        A resumed simulator's way to keep the scenarios in force before its restart
        (read back from the scenarios topic): the transition goes on from where it
        would be by ``next_time``, rather than starting over or being dropped.
        """
        if state not in SPECS or state in SETTLING:
            raise ValueError(f"{state!r} is not a scenario a server can be restored into")
        (row,) = self._named([server_id])
        self._begin(np.array([row]), _STATE[state])
        self._servers.elapsed[row] = max(0.0, (self.next_time - _utc(since)) / _MINUTE)

    def since(self, server_id: str) -> datetime:
        """The simulated time from which a server's current state holds (at ``next_time``)."""
        elapsed = float(self._servers.elapsed[self._index[server_id]])
        return self.next_time - timedelta(minutes=elapsed)

    def _named(self, servers: Sequence[str]) -> list[int]:
        """Rows of the named servers; a command naming any server not in the fleet is refused.

        Refusing rather than adding keeps a typo, or a flood of made-up names on
        the control topic, from growing the fleet (the caller dead-letters it).
        """
        unknown = [sid for sid in dict.fromkeys(servers) if sid not in self._index]
        if unknown:
            shown = ", ".join(repr(s[:64]) for s in unknown[:5])
            raise ValueError(
                f"unknown server(s) {shown}{' ...' if len(unknown) > 5 else ''}: "
                f"the fleet has {len(self._ids)} servers ({', '.join(self._ids[:3])}, ...)"
            )
        return [self._index[sid] for sid in dict.fromkeys(servers)]

    def _fleet_wide(self, scenario: str) -> list[int]:
        n = len(self._ids)
        share = FLEET_SHARE.get(scenario)
        if share is None or n == 0:
            return list(range(n))
        # Seeded by the scenario alone, so repeating the command hits the same servers.
        rng = np.random.default_rng([self._seed, zlib.crc32(scenario.encode())])
        size = max(1, int(n * share))
        return sorted(rng.choice(n, size=size, replace=False).tolist())

    def _resolve(self, scenario: str, row: int) -> int:
        """The state a command puts a server into."""
        current = int(self._servers.state[row])
        if scenario == "healthy":
            return current if current == HEALTHY else RECOVERY
        if scenario == "degrading":
            profile = self._profiles[row]
            kind = DEGRADING_KIND.get(profile)
            if kind is None:
                # Stable per server and seed, whatever order commands arrive in.
                ramps = sorted(RAMP_METRIC)
                kind = ramps[zlib.crc32(f"{self._seed}:{self._ids[row]}".encode()) % len(ramps)]
            return _STATE[kind]
        return _STATE[scenario]

    def _begin(
        self, rows: np.ndarray, state: int, *, duration: float | None = None,
        hold: float = np.inf, then: int = _NO_ENDING,
    ) -> None:
        """Start a transition from where each server is now toward ``state``'s targets.

        Without ``duration`` each server draws its own from the scenario's range; after
        it the server stays at the target for ``hold`` minutes, then begins ``then``.
        """
        spec = SPECS[STATES[state]]
        s = self._servers
        goal = targets(spec, s.busy[rows])
        s.from_dev[rows] = s.last_dev[rows]
        s.target[rows] = goal.values
        s.keep[rows] = goal.keep
        s.power[rows] = goal.power
        s.elapsed[rows] = 0.0
        s.duration[rows] = (self._scenario_rng.uniform(*spec.minutes, size=len(rows))
                            if duration is None else duration)
        s.hold[rows] = hold
        s.then[rows] = then
        s.state[rows] = state

    # -- time ------------------------------------------------------------------------

    def baseline_at(self, sim_time: datetime) -> np.ndarray:
        """Noise-free healthy levels of every server at ``sim_time``: (servers, metrics)."""
        t = _utc(sim_time)
        s = self._servers
        hour = t.hour + t.minute / 60 + t.second / 3600
        local = (hour + s.day_shift) % 24
        load = business_load((local + s.peak_shift) % 24)
        if t.weekday() >= 5:
            load = load * s.weekend
        base = s.quiet + (s.busy - s.quiet) * load[:, None]
        # Disks fill through the day and a nightly clean-up frees the space.
        base[:, _DISK] += s.disk_growth * local / 24
        return base

    def values_at(self, sim_time: datetime) -> np.ndarray:
        """Advance to ``sim_time`` and return every server's metrics: (servers, metrics).

        Rows follow ``server_ids``, columns ``METRICS``. Noise and scenario progress
        advance by the simulated time since the previous step (one minute before
        the first); asking for the same time twice gives the same values.
        """
        t = _utc(sim_time)
        minutes = 1.0 if self._clock is None else max(0.0, (t - self._clock) / _MINUTE)
        self._clock = t
        s = self._servers
        s.elapsed += minutes
        decay = PHI**minutes
        shocks = self._noise_rng.standard_normal(s.z.shape)
        s.z = np.clip(decay * s.z + np.sqrt(1 - decay**2) * shocks, -_NOISE_CLIP, _NOISE_CLIP)

        base = self.baseline_at(t)
        progress = np.clip(s.elapsed / s.duration, 0.0, 1.0)[:, None]
        # Metrics going back to baseline settle at recovery speed even in a slow ramp.
        settle = np.clip(s.elapsed / np.minimum(s.duration, RECOVERY_MINUTES), 0.0, 1.0)[:, None]
        share = np.where(s.keep, settle, progress**s.power)
        goal = np.where(s.keep, base, s.target)
        clean = (1 - share) * (base + s.from_dev) + share * goal
        s.last_dev = clean - base

        level = np.where(MULTIPLICATIVE, clean / s.mid, 1.0)
        noise = s.z * s.noise_sd * level * (1 - _NOISE_DAMPING * share)
        values = np.clip(clean + noise, LOWER, UPPER)

        recovered = np.isin(s.state, _SETTLING) & (s.elapsed >= s.duration)
        if recovered.any():
            s.state[recovered] = HEALTHY
            s.from_dev[recovered] = 0.0
        # Episodes whose time at their worst is over end by themselves (a restart, a
        # clean-up, the load passing); operator scenarios never do (their hold is inf).
        over = (s.then != _NO_ENDING) & (s.elapsed >= s.duration + s.hold)
        for ending in np.unique(s.then[over]).tolist():
            self._begin(np.flatnonzero(over & (s.then == ending)), int(ending))
        return values

    def events_at(self, sim_time: datetime) -> list[MetricEvent]:
        """Advance to ``sim_time`` and return one event per server, stamped ``sim_time``."""
        t = _utc(sim_time)
        rows = (np.round(self.values_at(t) * _SCALE) / _SCALE).tolist()
        # Full validation: it costs no more than pydantic's model_construct here, and
        # an event that breaks the schema fails at its source, not downstream.
        return [
            MetricEvent(server_id=sid, timestamp=t, **dict(zip(METRICS, row, strict=True)))
            for sid, row in zip(self._ids, rows, strict=True)
        ]

    def step(self, minutes: int = 1) -> Iterator[list[MetricEvent]]:
        """The next ``minutes`` simulated minutes, one list of events per minute."""
        for _ in range(minutes):
            yield self.events_at(self.next_time)
