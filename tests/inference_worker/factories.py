"""Context windows from numpy arrays for the inference worker tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np

from schemas.common import METRICS
from schemas.context_window import STEP_SECONDS, ContextWindow
from schemas.profiles import profile_for

#: The end of the default window: a forecast made from it starts here.
T0 = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=STEP_SECONDS)

#: A healthy, quiet server: every metric well below every profile's warning level.
HEALTHY: Mapping[str, float] = {
    "cpu_pct": 30.0,
    "mem_pct": 40.0,
    "disk_pct": 50.0,
    "net_in_mbps": 100.0,
    "net_out_mbps": 80.0,
    "latency_ms": 40.0,
    "error_rate": 0.001,
}


def make_window(
    server_id: str = "ppsrv001",
    series: Mapping[str, np.ndarray | float] | None = None,
    *,
    steps: int = 288,
    observed: int | None = None,
    end: datetime = T0,
    noise: float = 0.0,
    seed: int = 0,
) -> ContextWindow:
    """A window of ``steps`` steps ending at ``end`` whose last ``observed`` steps hold data.

    ``series`` gives a metric as a constant or as an array of ``steps`` values
    (NaN for a gap); metrics left out sit at their ``HEALTHY`` level. Steps
    before the last ``observed`` are empty (``null``, count 0), as in a window
    of a server seen for the first time ``observed`` steps ago. ``noise`` adds
    seeded Gaussian noise of that standard deviation to every metric.
    """
    observed = steps if observed is None else observed
    assert 0 <= observed <= steps
    rng = np.random.default_rng(seed)
    first = steps - observed
    values: dict[str, list[float | None]] = {}
    for name in METRICS:
        given = (series or {}).get(name, HEALTHY[name])
        array = np.broadcast_to(np.asarray(given, dtype=np.float64), (steps,)).copy()
        if noise:
            array = np.clip(array + rng.normal(0.0, noise * _scale(name), steps), 0.0, None)
        values[name] = [
            None if i < first or not np.isfinite(v) else float(v) for i, v in enumerate(array)
        ]
    return ContextWindow(
        server_id=server_id,
        profile=profile_for(server_id),
        end=end,
        step_seconds=STEP_SECONDS,
        steps=steps,
        values=values,
        counts=[0 if i < first else 5 for i in range(steps)],
    )


def _scale(name: str) -> float:
    """Noise is given in percentage points; rates and fractions get a proportionate share."""
    return 0.001 if name == "error_rate" else 1.0
