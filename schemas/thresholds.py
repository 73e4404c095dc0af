"""Profile-aware warning and critical thresholds per metric.

What is alarming depends on what a server does: a database that fills RAM
with its cache at 98% memory is normal, an ML node pinned at 98% CPU is not
(it has stalled or is starving its jobs), a web API lives and dies by
latency. Units are the metric's own (see schemas/metric_event.py).
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Threshold(NamedTuple):
    warning: float
    critical: float

    @property
    def watch(self) -> float:
        """Where "approaching the warning level" starts: two warning-to-critical gaps below
        warning, but never below 60% of it (so a database's normal 90% memory is healthy)."""
        return max(self.warning - 2 * (self.critical - self.warning), 0.6 * self.warning)


DEFAULT: Final[dict[str, Threshold]] = {
    "cpu_pct": Threshold(85.0, 95.0),
    "mem_pct": Threshold(88.0, 96.0),
    "disk_pct": Threshold(85.0, 95.0),
    # Network on 10 GbE links: alarming only near saturation.
    "net_in_mbps": Threshold(8000.0, 9500.0),
    "net_out_mbps": Threshold(8000.0, 9500.0),
    "latency_ms": Threshold(500.0, 1500.0),
    "error_rate": Threshold(0.05, 0.15),
}

OVERRIDES: Final[dict[str, dict[str, Threshold]]] = {
    "database": {
        "mem_pct": Threshold(98.5, 99.5),  # the buffer pool is meant to fill memory
        "latency_ms": Threshold(250.0, 800.0),
    },
    "ml_compute": {
        "cpu_pct": Threshold(92.0, 97.0),  # busy by design, but pinned means stalled
        "mem_pct": Threshold(92.0, 97.0),
    },
    "web_api": {
        "latency_ms": Threshold(400.0, 1000.0),
        "error_rate": Threshold(0.03, 0.10),
    },
    "data_ingest": {
        "disk_pct": Threshold(88.0, 96.0),  # fills by day until retention frees it
    },
}


def thresholds_for(profile: str) -> dict[str, Threshold]:
    return DEFAULT | OVERRIDES.get(profile, {})
