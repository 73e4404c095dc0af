"""What normal looks like per profile: metric levels, daily and weekly rhythm, noise.

Each metric moves between a ``quiet`` level (night, weekend) and a ``busy`` level
(business hours) and carries autocorrelated noise on top. The numbers are chosen
so that a healthy server stays clearly inside normal ranges at every hour
(noise is bounded at three standard deviations): a healthy fleet must never
look like trouble to the forecaster downstream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

from schemas.common import METRIC_BOUNDS, METRICS

#: Column of each metric in the simulator's arrays.
COLUMN: Final[dict[str, int]] = {name: i for i, name in enumerate(METRICS)}

#: Lag-1 autocorrelation (per simulated minute) of each metric's noise: disk moves
#: slowly, network and errors are jumpier.
PHI: Final = np.array([0.85, 0.95, 0.995, 0.75, 0.75, 0.8, 0.6])

#: Metrics whose noise grows with the level (network, latency); the others add
#: noise in their own units.
MULTIPLICATIVE: Final = np.array([name in ("net_in_mbps", "net_out_mbps", "latency_ms")
                                  for name in METRICS])

LOWER: Final = np.array([METRIC_BOUNDS[name][0] for name in METRICS])
UPPER: Final = np.array([METRIC_BOUNDS[name][1] for name in METRICS])

#: Relative spread of one server's levels around its profile's (memory is tight: a
#: database's normal 85-92 % must not drift towards full).
SERVER_SPREAD: Final = np.array([0.04, 0.01, 0.05, 0.1, 0.1, 0.1, 0.1])

#: Decimal places per metric in published events.
DECIMALS: Final = np.array([2, 2, 2, 2, 2, 2, 5])


@dataclass(frozen=True)
class Level:
    quiet: float
    busy: float
    noise: float  # stationary standard deviation (relative to the mid level if multiplicative)


@dataclass(frozen=True)
class ProfileBaseline:
    levels: dict[str, Level]
    peak_hour_shift: float = 0.0  # 12 moves the busy period to the night (batch work)
    weekend: float = 0.4  # load factor on Saturdays and Sundays
    disk_growth_per_day: float = 0.0  # filled during the day, freed by a nightly clean-up


def _levels(**levels: tuple[float, float, float]) -> dict[str, Level]:
    assert set(levels) == set(METRICS), f"levels must cover {METRICS}"
    return {name: Level(*levels[name]) for name in METRICS}


PROFILE_BASELINES: Final[dict[str, ProfileBaseline]] = {
    # Training jobs keep the CPU busy around the clock, in bursts; weekends barely dip.
    "ml_compute": ProfileBaseline(
        _levels(cpu_pct=(58, 66, 4.0), mem_pct=(48, 60, 2.5), disk_pct=(42, 42, 0.3),
                net_in_mbps=(150, 320, 30), net_out_mbps=(40, 90, 9),
                latency_ms=(85, 115, 8), error_rate=(0.001, 0.002, 0.0003)),
        weekend=0.8,
    ),
    # Caches fill RAM: memory sits high (85-92 %) and that is normal for a database.
    "database": ProfileBaseline(
        _levels(cpu_pct=(22, 50, 4.0), mem_pct=(86, 89, 0.8), disk_pct=(62, 62, 0.3),
                net_in_mbps=(60, 180, 15), net_out_mbps=(120, 400, 30),
                latency_ms=(4, 9, 0.8), error_rate=(0.0005, 0.001, 0.0002)),
        disk_growth_per_day=1.5,
    ),
    # Front-end APIs: user traffic, so the strongest business-hours swing.
    "web_api": ProfileBaseline(
        _levels(cpu_pct=(18, 50, 4.0), mem_pct=(44, 54, 2.0), disk_pct=(30, 30, 0.3),
                net_in_mbps=(200, 700, 50), net_out_mbps=(300, 1100, 80),
                latency_ms=(40, 75, 5), error_rate=(0.002, 0.005, 0.001)),
    ),
    "conductor_mgmt": ProfileBaseline(
        _levels(cpu_pct=(15, 30, 3.0), mem_pct=(40, 48, 2.0), disk_pct=(35, 35, 0.3),
                net_in_mbps=(20, 60, 5), net_out_mbps=(20, 50, 5),
                latency_ms=(15, 30, 3), error_rate=(0.001, 0.002, 0.0003)),
    ),
    # Nightly batch ingestion: busy at night, heavy inbound traffic, disk filling up
    # through the day until retention frees it.
    "data_ingest": ProfileBaseline(
        _levels(cpu_pct=(30, 55, 4.0), mem_pct=(50, 60, 2.5), disk_pct=(48, 48, 0.4),
                net_in_mbps=(400, 1200, 80), net_out_mbps=(50, 150, 15),
                latency_ms=(20, 40, 4), error_rate=(0.002, 0.004, 0.0005)),
        peak_hour_shift=12.0, weekend=1.0, disk_growth_per_day=14.0,
    ),
    # Risk runs follow the trading day.
    "risk_analytics": ProfileBaseline(
        _levels(cpu_pct=(30, 62, 4.0), mem_pct=(52, 66, 2.5), disk_pct=(45, 45, 0.3),
                net_in_mbps=(80, 200, 15), net_out_mbps=(40, 100, 10),
                latency_ms=(60, 150, 10), error_rate=(0.001, 0.003, 0.0004)),
        weekend=0.25,
    ),
    "generic": ProfileBaseline(
        _levels(cpu_pct=(10, 30, 3.0), mem_pct=(35, 45, 2.0), disk_pct=(40, 40, 0.3),
                net_in_mbps=(20, 60, 5), net_out_mbps=(15, 40, 4),
                latency_ms=(10, 20, 2), error_rate=(0.001, 0.002, 0.0003)),
    ),
}


def profile_arrays(profile: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(quiet, busy, noise) of a profile, one entry per metric in ``METRICS`` order."""
    levels = PROFILE_BASELINES[profile].levels
    return (
        np.array([levels[m].quiet for m in METRICS]),
        np.array([levels[m].busy for m in METRICS]),
        np.array([levels[m].noise for m in METRICS]),
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def business_load(hours: np.ndarray) -> np.ndarray:
    """0 at night, ~1 through business hours: a ramp from 7-9 h and a fall from 17-20 h."""
    return _sigmoid((hours - 8.0) / 0.8) * _sigmoid((18.5 - hours) / 1.0)
