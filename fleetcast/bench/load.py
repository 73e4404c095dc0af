"""``fleetcast bench load``: a large simulated fleet through the stack for a long while.

The simulator (``produce``), ``--process-workers`` Faust workers in one group
and the inference worker run as child processes on the embedded broker, as
``fleetcast up`` runs them. Every ``--every`` seconds a sample records what the
topics hold, each consumer group's lag (ui/pipeline_monitor.py's monitor: high
watermarks minus committed offsets), each service's resident memory and CPU
time. The summary says whether lag stayed bounded (its last quarter against
its first after warm-up), whether memory stayed flat, how many dead letters
good data produced (it should be none) and where the CPU went.

The stream processor acknowledges an event only when its 5-minute step
closes (see stream_processors/agents.py), so its committed lag includes the
open step of every server by design: about ``servers x events per step``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings
from fleetcast.bench.services import ChildService, bench_stack


@dataclass(frozen=True)
class LoadSample:
    elapsed_s: float
    topics: dict[str, int]  # messages on each topic so far
    process_lag: int | None
    infer_lag: int | None
    rss_mb: dict[str, float]  # per service (Faust workers summed)
    cpu_s: dict[str, float]  # CPU seconds used so far, per service

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class LoadSummary:
    servers: int
    speed: float
    process_workers: int
    duration_s: float
    events_per_s: float
    windows_per_s: float
    dead_letters: int
    process_lag_first_quarter: float | None
    process_lag_last_quarter: float | None
    process_lag_max: int | None
    infer_lag_max: int | None
    rss_mb_start: dict[str, float] = field(default_factory=dict)
    rss_mb_end: dict[str, float] = field(default_factory=dict)
    cpu_share: dict[str, float] = field(default_factory=dict)  # of all CPU the stack used

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _by_service(services: list[ChildService], figure: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for service in services:
        totals[service.kind] = round(totals.get(service.kind, 0.0) + getattr(service, figure)(), 1)
    return totals


def run_load(settings: Settings, *, process_workers: int, duration_s: float, every_s: float,
             log_dir: Path | None = None) -> Iterator[LoadSample]:
    """Samples of the running stack every ``every_s`` until ``duration_s`` have passed."""
    from ui.pipeline_monitor import PipelineMonitor

    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fleetcast-load-"))
    names = [f"process#{i}" for i in range(process_workers)] + ["infer", "produce"]
    with bench_stack(settings, names, log_dir) as (running, services):
        monitor = PipelineMonitor(running, every_s=min(every_s, 5.0)).start()
        started = time.monotonic()
        try:
            while time.monotonic() - started < duration_s:
                time.sleep(every_s)
                dead = [s.name for s in services if not s.alive()]
                if dead:
                    raise RuntimeError(f"{dead} exited; see the logs in {log_dir}")
                snapshot = monitor.snapshot()
                lags = {lag.role: lag.lag for lag in snapshot.lags}
                yield LoadSample(
                    elapsed_s=round(time.monotonic() - started, 1),
                    topics={role: snapshot.ends.get(running.topic(role), 0)
                            for role in ("metrics", "windows", "forecasts", "deadletter")},
                    process_lag=lags.get("stream processor"),
                    infer_lag=lags.get("inference worker"),
                    rss_mb=_by_service(services, "rss_mb"),
                    cpu_s=_by_service(services, "cpu_s"),
                )
        finally:
            monitor.stop()


def summarise(settings: Settings, process_workers: int, samples: list[LoadSample],
              warm_up_s: float) -> LoadSummary:
    measured = [s for s in samples if s.elapsed_s >= warm_up_s] or samples
    first, last = measured[0], measured[-1]
    span = max(last.elapsed_s - first.elapsed_s, 1e-9)
    quarter = max(1, len(measured) // 4)

    def mean_lag(part: list[LoadSample]) -> float | None:
        values = [s.process_lag for s in part if s.process_lag is not None]
        return round(sum(values) / len(values), 1) if values else None

    process_lags = [s.process_lag for s in measured if s.process_lag is not None]
    infer_lags = [s.infer_lag for s in measured if s.infer_lag is not None]
    cpu_total = sum(last.cpu_s.values()) or 1.0
    return LoadSummary(
        servers=settings.servers, speed=settings.speed, process_workers=process_workers,
        duration_s=round(last.elapsed_s, 1),
        events_per_s=round((last.topics["metrics"] - first.topics["metrics"]) / span, 1),
        windows_per_s=round((last.topics["windows"] - first.topics["windows"]) / span, 1),
        dead_letters=last.topics["deadletter"],
        process_lag_first_quarter=mean_lag(measured[:quarter]),
        process_lag_last_quarter=mean_lag(measured[-quarter:]),
        process_lag_max=max(process_lags) if process_lags else None,
        infer_lag_max=max(infer_lags) if infer_lags else None,
        rss_mb_start=first.rss_mb, rss_mb_end=last.rss_mb,
        cpu_share={k: round(v / cpu_total, 3) for k, v in last.cpu_s.items()},
    )


def cmd_load(args: argparse.Namespace) -> int:
    settings = Settings(servers=args.servers, speed=args.speed,
                        backfill_hours=args.backfill_hours, forecaster=args.forecaster)
    samples: list[LoadSample] = []
    for sample in run_load(settings, process_workers=args.process_workers,
                           duration_s=args.minutes * 60, every_s=args.every):
        samples.append(sample)
        print(json.dumps(sample.to_json()), flush=True)
    if not samples:
        return 1
    summary = summarise(settings, args.process_workers, samples, warm_up_s=args.warm_up)
    print(json.dumps({"summary": summary.to_json()}), flush=True)
    return 0


def add_load_bench(kinds: Any) -> None:
    """``fleetcast bench load`` on the subparsers of ``fleetcast bench``."""
    load = kinds.add_parser(
        "load", help="A large simulated fleet through the stack: lag, memory, dead letters.")
    load.set_defaults(bench_handler=cmd_load)
    load.add_argument("--servers", type=int, default=10_000)
    load.add_argument("--speed", type=float, default=1.0,
                      help="Simulated seconds per real second (1: one event per server per "
                      "real minute).")
    load.add_argument("--minutes", type=float, default=30.0, help="Real minutes to run.")
    load.add_argument("--process-workers", type=int, default=1,
                      help="Faust worker processes in the one group.")
    load.add_argument("--backfill-hours", type=float, default=0.0)
    load.add_argument("--forecaster", choices=("auto", "tft", "baseline"), default="baseline")
    load.add_argument("--every", type=float, default=15.0, help="Seconds between samples.")
    load.add_argument("--warm-up", type=float, default=120.0,
                      help="Seconds left out of the summary.")
