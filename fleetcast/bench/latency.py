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
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from confluent_kafka import Message

from core.kafka import make_consumer
from core.settings import Settings
from fleetcast.bench.services import bench_stack
from schemas.forecast import Forecast

# Both payloads are large JSON documents; only these fields are needed, near the start.
_END = re.compile(rb'"end":"([^"]+)"')
_FORECAST_ID = re.compile(rb'"forecast_id":"([^"]+)"')
_MODEL = re.compile(rb'"model_version":"([^"]+)"')
_STATUS = re.compile(rb'"status":"([a-z_]+)"')
_HEAD = 600
#: A forecast's ``model_version`` when none could be read, and when it was ``warming_up``:
#: the model did not run for it.
WARMING_UP = "warming_up"


@dataclass(frozen=True)
class PipelineFigures:
    servers: int
    forecaster: str
    speed: float
    history_hours: float
    batch_size: int
    forward_chunk_windows: int  # windows per forward pass within a batch (0: all)
    measured_s: float
    windows: int
    forecasts: int
    #: Timed windows whose forecast the model computed (status ok), by model version;
    #: ``warming_up`` counts those it did not: a run where the model never ran shows here.
    computed: dict[str, int]
    superseded_or_pending: int
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float

    def to_json(self) -> dict[str, object]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}



def model_computed(computed: dict[str, int], forecaster: str) -> int:
    """Forecasts a model computed, from counts per version: every version but ``warming_up``
    (and, when the TFT was asked for, not the baseline's)."""
    return sum(n for version, n in computed.items() if version != WARMING_UP
               and (forecaster != "tft" or not version.startswith("baseline")))


def window_id(key: bytes | None, value: bytes | None) -> str | None:
    found = _END.search((value or b"")[:_HEAD])
    if key is None or found is None:
        return None
    return Forecast.make_id(key.decode(), datetime.fromisoformat(found.group(1).decode()))


def forecast_id(value: bytes | None) -> str | None:
    found = _FORECAST_ID.search((value or b"")[:_HEAD])
    return found.group(1).decode() if found else None


def forecast_model(value: bytes | None) -> str:
    """The model version that computed a forecast, ``warming_up`` when none did."""
    head = (value or b"")[:_HEAD]
    status, model = _STATUS.search(head), _MODEL.search(head)
    if status is None or model is None or status.group(1) != b"ok":
        return WARMING_UP
    return model.group(1).decode()


def latency_figures(closed: dict[str, float], forecast_at: dict[str, float]
                    ) -> tuple[int, np.ndarray]:
    """Seconds from each window to its forecast, and how many windows had none."""
    seconds = [forecast_at[i] - t for i, t in closed.items() if i in forecast_at]
    return len(closed) - len(seconds), np.asarray(seconds, dtype=np.float64)


def spread(seconds: np.ndarray) -> dict[str, float]:
    """p50, p95, p99 and max of latencies (seconds), none for none."""
    if not seconds.size:
        return {}
    p50, p95, p99 = np.percentile(seconds, [50, 95, 99])
    return {"p50_s": float(p50), "p95_s": float(p95), "p99_s": float(p99),
            "max_s": float(seconds.max())}


@dataclass
class Stamps:
    """Message times of every window and of its forecast, as read."""

    closed: dict[str, float] = field(default_factory=dict)
    forecast_at: dict[str, float] = field(default_factory=dict)
    model_of: dict[str, str] = field(default_factory=dict)  # forecast id -> forecast_model
    first_forecast: float | None = None  # when the stack first answered (message time)
    read_until: float = 0.0  # when reading stopped (epoch seconds)

    def computed(self) -> dict[str, int]:
        """Windows forecast, per model version that computed it (``warming_up``: none did)."""
        return dict(Counter(self.model_of[i] for i in self.closed if i in self.forecast_at))

    def within(self, begin: float, end: float) -> Stamps:
        """Only the windows stamped in ``[begin, end)``, with every forecast."""
        return Stamps({i: t for i, t in self.closed.items() if begin <= t < end},
                      self.forecast_at, self.model_of, self.first_forecast, self.read_until)

    def add(self, topic_windows: str, message: Message) -> None:
        stamp = message.timestamp()[1] / 1000
        if message.topic() == topic_windows:
            key = window_id(message.key(), message.value())
            if key is not None:
                self.closed[key] = stamp
            return
        fid = forecast_id(message.value())
        if fid is not None and fid not in self.forecast_at:
            self.forecast_at[fid] = stamp
            self.model_of[fid] = forecast_model(message.value())
            self.first_forecast = self.first_forecast or stamp


def collect(settings: Settings, until: Callable[[Stamps], bool],
            stamps: Stamps | None = None) -> Stamps:
    """Every window and forecast, read from the start of both topics into ``stamps`` until
    ``until(stamps)`` says stop."""
    consumer = make_consumer(settings, f"bench-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([settings.topic_windows, settings.topic_forecasts])
    stamps = stamps if stamps is not None else Stamps()
    try:
        while not until(stamps):
            for message in consumer.consume(num_messages=2000, timeout=0.5):
                if not message.error():
                    stamps.add(settings.topic_windows, message)
    finally:
        stamps.read_until = time.time()
        consumer.close()
    return stamps


def bench_pipeline(settings: Settings, *, warm_up_s: float, duration_s: float,
                   history_hours: float, ready_timeout_s: float = 900.0,
                   log_dir: Path | None = None) -> PipelineFigures:
    """Latency of the windows of ``duration_s`` that start ``warm_up_s`` after the stack's
    first forecast (loading the model and recovering the seeded history take a while)."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fleetcast-bench-"))
    print(f"fleetcast bench pipeline: services log to {log_dir}", file=sys.stderr, flush=True)
    given_up = time.time() + ready_timeout_s

    def measured(stamps: Stamps) -> bool:
        if stamps.first_forecast is None:
            return time.time() >= given_up
        # Forecasts are read until a grace period after the span, so that the last windows
        # can be answered.
        return time.time() >= stamps.first_forecast + warm_up_s + duration_s + max(
            5.0, duration_s / 4)

    with bench_stack(settings, ("process", "infer", "produce"), log_dir,
                     history_hours=history_hours) as (running, _):
        read = collect(running, measured)
    if read.first_forecast is None:
        raise RuntimeError(f"no forecast in {ready_timeout_s:.0f} s; see the logs in {log_dir}")
    begin = read.first_forecast + warm_up_s
    stamps = read.within(begin, begin + duration_s)
    missing, seconds = latency_figures(stamps.closed, stamps.forecast_at)
    if not seconds.size:
        raise RuntimeError(f"no window was forecast while measured; see the logs in {log_dir}")
    return PipelineFigures(
        servers=settings.servers, forecaster=settings.forecaster, speed=settings.speed,
        history_hours=history_hours, batch_size=settings.batch_size,
        forward_chunk_windows=settings.forward_chunk_windows,
        measured_s=duration_s, windows=len(stamps.closed), forecasts=int(seconds.size),
        computed=stamps.computed(), superseded_or_pending=missing, **spread(seconds),
    )
