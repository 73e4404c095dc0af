"""What each scenario does to a server's metrics, and how fast.

A scenario is a transition: from wherever the server is when it starts, each
affected metric moves toward a target over the scenario's duration, along
``progress ** power`` (power 1 is a steady ramp; a high power holds a side
effect back until the end, e.g. writes failing only once the disk is full).
Metrics a scenario does not name drift back to their healthy baseline.

The slow failure modes run to the end: a leak fills memory and a disk fills
to 100 %, past every profile's critical threshold (``schemas.thresholds``),
along a straight line, so that what the forecaster learns from them is "a
sustained ramp continues". What happens once they are there is up to whoever
runs them: a live command holds the server there until ``healthy``; the
recorded history (``producers.recording``) restarts the leaking service and
cleans the disk (``reset``).

Some kinds are not operator commands (``schemas.control_event.SCENARIOS``) but
episodes only the recorder injects: ``batch_job`` (a nightly job saturating the
CPU), ``spike`` (a burst that reverts within minutes) and ``reset`` (a restart or
clean-up: everything back to baseline within a few minutes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from schemas.common import METRICS

#: Levels a server in trouble goes past: the ramps and ``critical`` are built to cross
#: them, a healthy server stays far below. Latency is relative to the server's baseline.
CRITICAL_LEVELS: Final[dict[str, float]] = {
    "cpu_pct": 95.0,
    "mem_pct": 95.0,
    "disk_pct": 95.0,
    "error_rate": 0.1,
}
LATENCY_CRITICAL_FACTOR: Final = 5.0

#: Minutes a server takes to settle back to baseline after ``healthy``.
RECOVERY_MINUTES: Final = 30.0
#: A restart or clean-up is abrupt: a few minutes back to baseline.
RESET_MINUTES: Final = (2.0, 5.0)

#: The slow failure modes ``degrading`` picks from, with the metric each one drives.
RAMP_METRIC: Final[dict[str, str]] = {
    "memory_leak": "mem_pct",
    "disk_fill": "disk_pct",
    "creeping_load": "cpu_pct",
}
#: The failure mode that fits a profile; the others get a seeded choice.
DEGRADING_KIND: Final[dict[str, str]] = {
    "database": "disk_fill",
    "ml_compute": "memory_leak",
    "web_api": "creeping_load",
}


@dataclass(frozen=True)
class Effect:
    """The target of one metric: ``level`` (absolute), or ``scale`` or ``add`` on the
    server's busy level; capped at ``cap``."""

    level: float | None = None
    scale: float | None = None
    add: float | None = None
    cap: float = math.inf
    power: float = 1.0


@dataclass(frozen=True)
class ScenarioSpec:
    minutes: tuple[float, float]  # duration range; each server draws its own
    effects: dict[str, Effect] = field(default_factory=dict)


SPECS: Final[dict[str, ScenarioSpec]] = {
    "heavy_load": ScenarioSpec((8, 12), {
        "cpu_pct": Effect(add=22, cap=93),
        "mem_pct": Effect(add=6, cap=96),
        "net_in_mbps": Effect(scale=1.8),
        "net_out_mbps": Effect(scale=1.8),
        "latency_ms": Effect(scale=1.8),
        "error_rate": Effect(level=0.01),
    }),
    # Steady leak; as memory runs out the GC and swapping slow everything down.
    # The leak runs until memory is exhausted: 99.8 % is past every profile's critical
    # level (a database's is 99.5 %), so a leak always ends in an incident.
    "memory_leak": ScenarioSpec((80, 92), {
        "mem_pct": Effect(level=99.8),
        "cpu_pct": Effect(scale=1.25, cap=99, power=3),
        "latency_ms": Effect(scale=4.0, power=4),
        "error_rate": Effect(level=0.12, power=6),
    }),
    "disk_fill": ScenarioSpec((80, 92), {
        "disk_pct": Effect(level=100.0),
        "latency_ms": Effect(scale=2.5, power=8),
        "error_rate": Effect(level=0.15, power=10),
    }),
    "creeping_load": ScenarioSpec((80, 92), {
        "cpu_pct": Effect(level=99.0),
        "mem_pct": Effect(add=5, cap=97, power=2),
        "latency_ms": Effect(scale=6.0, power=1.5),
        "error_rate": Effect(level=0.1, power=4),
    }),
    # Everything at once, within about 10-15 minutes: CPU and memory pegged,
    # requests queueing and failing, fewer responses going out.
    "critical": ScenarioSpec((10, 14), {
        "cpu_pct": Effect(level=99.3),
        "mem_pct": Effect(level=98.6),
        "net_in_mbps": Effect(scale=1.3),
        "net_out_mbps": Effect(scale=0.4),
        "latency_ms": Effect(scale=8.0),
        "error_rate": Effect(level=0.25),
    }),
    # Drained for maintenance: services stopped, next to no traffic.
    "maintenance": ScenarioSpec((3, 6), {
        "cpu_pct": Effect(level=4.0),
        "mem_pct": Effect(scale=0.6),
        "net_in_mbps": Effect(scale=0.05),
        "net_out_mbps": Effect(scale=0.05),
        "error_rate": Effect(level=0.0),
    }),
    "recovery": ScenarioSpec((RECOVERY_MINUTES, RECOVERY_MINUTES)),
    # Recorder-only episodes (not operator commands).
    # A scheduled job pins the CPU within minutes, with the memory and inbound data it
    # needs; it is past the CPU's critical level for as long as it runs.
    "batch_job": ScenarioSpec((3, 6), {
        "cpu_pct": Effect(level=99.5),
        "mem_pct": Effect(add=8, cap=90),
        "net_in_mbps": Effect(scale=1.5),
        "latency_ms": Effect(scale=1.5, power=2),
    }),
    # A burst of traffic: sharp, high, and gone again within minutes. It stays below
    # the critical CPU level, so it is never an incident, only noise to see through.
    "spike": ScenarioSpec((1, 3), {
        "cpu_pct": Effect(add=30, cap=92),
        "net_in_mbps": Effect(scale=2.5),
        "net_out_mbps": Effect(scale=2.5),
        "latency_ms": Effect(scale=2.0),
    }),
    "reset": ScenarioSpec(RESET_MINUTES),
}

#: States that are on their way back to baseline and end in ``healthy`` by themselves.
SETTLING: Final = ("recovery", "reset")


@dataclass(frozen=True)
class Targets:
    """A scenario's effects as arrays over ``METRICS`` for a group of servers."""

    values: np.ndarray  # (servers, metrics) target levels; unused where ``keep``
    keep: np.ndarray  # (metrics,) True: the metric goes back to its baseline
    power: np.ndarray  # (metrics,)


def targets(spec: ScenarioSpec, busy: np.ndarray) -> Targets:
    """The targets of ``spec`` for servers whose busy levels are ``busy`` (servers, metrics)."""
    values = np.zeros_like(busy)
    keep = np.ones(len(METRICS), dtype=bool)
    power = np.ones(len(METRICS))
    for column, name in enumerate(METRICS):
        effect = spec.effects.get(name)
        if effect is None:
            continue
        keep[column] = False
        power[column] = effect.power
        if effect.level is not None:
            values[:, column] = effect.level
        elif effect.scale is not None:
            values[:, column] = effect.scale * busy[:, column]
        else:
            values[:, column] = busy[:, column] + (effect.add or 0.0)
        values[:, column] = np.minimum(values[:, column], effect.cap)
    return Targets(values, keep, power)
