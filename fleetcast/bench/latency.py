"""``fleetcast bench pipeline``: from a step closing in the Faust app to its forecast on Kafka.

A whole stack runs as child processes on the embedded broker: the simulator
(``produce``), the Faust app (``process``) and the worker (``infer``). Every
Kafka message carries the time its producer created it, so the latency of a
window is the forecast message's timestamp minus the window message's: the
Faust app sends a window the moment its step closes, and the worker sends the
forecast the moment it is scored (before the flush that precedes its commit).
Both clocks are this machine's. Windows superseded by a newer one of the same
server in the same batch get no forecast of their own and are only counted.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from core.kafka import make_consumer
from core.settings import Settings
from fleetcast.bench.services import bench_stack
from schemas.forecast import Forecast

# Both payloads are large JSON documents; only these two fields are needed, near the start.
_END = re.compile(rb'"end":"([^"]+)"')
_FORECAST_ID = re.compile(rb'"forecast_id":"([^"]+)"')
_HEAD = 400


@dataclass(frozen=True)
class PipelineFigures:
    servers: int
    forecaster: str
    speed: float
    measured_s: float
    windows: int
    forecasts: int
    superseded_or_pending: int
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float

    def to_json(self) -> dict[str, object]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def window_id(key: bytes | None, value: bytes | None) -> str | None:
    found = _END.search((value or b"")[:_HEAD])
    if key is None or found is None:
        return None
    return Forecast.make_id(key.decode(), datetime.fromisoformat(found.group(1).decode()))


def forecast_id(value: bytes | None) -> str | None:
    found = _FORECAST_ID.search((value or b"")[:_HEAD])
    return found.group(1).decode() if found else None


def latency_figures(closed: dict[str, float], forecast_at: dict[str, float]
                    ) -> tuple[int, np.ndarray]:
    """Seconds from each window to its forecast, and how many windows had none."""
    seconds = [forecast_at[i] - t for i, t in closed.items() if i in forecast_at]
    return len(closed) - len(seconds), np.asarray(seconds, dtype=np.float64)


def collect(settings: Settings, warm_up_s: float, duration_s: float
            ) -> tuple[dict[str, float], dict[str, float]]:
    """Window and forecast timestamps; windows only of the measured span, forecasts until
    a grace period after it so that the last windows can be answered."""
    consumer = make_consumer(settings, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([settings.topic_windows, settings.topic_forecasts])
    closed: dict[str, float] = {}
    forecast_at: dict[str, float] = {}
    started = time.time()
    begin, end = started + warm_up_s, started + warm_up_s + duration_s
    try:
        while time.time() < end + max(5.0, duration_s / 4):
            for message in consumer.consume(num_messages=2000, timeout=0.5):
                if message.error():
                    continue
                stamp = message.timestamp()[1] / 1000
                if message.topic() == settings.topic_windows:
                    key = window_id(message.key(), message.value())
                    if key is not None and begin <= stamp < end:
                        closed[key] = stamp
                else:
                    fid = forecast_id(message.value())
                    if fid is not None:
                        forecast_at.setdefault(fid, stamp)
    finally:
        consumer.close()
    return closed, forecast_at


def bench_pipeline(settings: Settings, *, warm_up_s: float, duration_s: float,
                   log_dir: Path | None = None) -> PipelineFigures:
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fleetcast-bench-"))
    with bench_stack(settings, ("process", "infer", "produce"), log_dir) as (running, _):
        closed, forecast_at = collect(running, warm_up_s, duration_s)
    missing, seconds = latency_figures(closed, forecast_at)
    if not seconds.size:
        raise RuntimeError(f"no window was forecast while measured; see the logs in {log_dir}")
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return PipelineFigures(
        servers=settings.servers, forecaster=settings.forecaster, speed=settings.speed,
        measured_s=duration_s, windows=len(closed), forecasts=int(seconds.size),
        superseded_or_pending=missing, p50_s=float(p50), p95_s=float(p95), p99_s=float(p99),
        max_s=float(seconds.max()),
    )
