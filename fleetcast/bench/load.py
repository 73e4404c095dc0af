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
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings
from fleetcast.bench.latency import (
    WARMING_UP,
    Stamps,
    collect,
    latency_figures,
    spread,
)
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


@dataclass(frozen=True)
class StepFigures:
    """One step of the fleet: its windows, how many the model forecast, how long the last took."""

    end: str  # the step's end (the windows' end), as in the forecast ids
    windows: int
    forecasts: int
    computed: int  # forecasts the model computed (not warming up)
    p95_s: float | None
    max_s: float | None  # step close to its last forecast: the worker's backlog drained


@dataclass
class LoadSummary:
    servers: int
    speed: float
    process_workers: int
    infer_workers: int
    history_hours: float
    batch_size: int
    forward_chunk_windows: int  # windows per forward pass within a batch (0: all)
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
    cpu_cores: dict[str, float] = field(default_factory=dict)  # cores busy over the measured span
    #: Step close -> forecast over every window of the run, warm-up included: with the
    #: history seeded, the first live step is already a whole fleet at full context.
    latency: dict[str, float] = field(default_factory=dict)
    computed: dict[str, int] = field(default_factory=dict)  # per model version, as there
    steps: list[StepFigures] = field(default_factory=list)
    #: Every judged step's last forecast came before the next step closed (None: no step
    #: judged); the last step is judged only if a whole step interval followed it.
    drained_within_step: bool | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _by_service(services: list[ChildService], figure: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for service in services:
        totals[service.kind] = round(totals.get(service.kind, 0.0) + getattr(service, figure)(), 1)
    return totals


def run_load(settings: Settings, *, process_workers: int, duration_s: float, every_s: float,
             infer_workers: int = 1, history_hours: float = 0.0, stamps: Stamps | None = None,
             log_dir: Path | None = None) -> Iterator[LoadSample]:
    """Samples of the running stack every ``every_s`` until ``duration_s`` have passed;
    ``stamps`` (when given) fills with the times of every window and forecast."""
    from ui.pipeline_monitor import PipelineMonitor

    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fleetcast-load-"))
    print(f"fleetcast bench load: services log to {log_dir}", file=sys.stderr, flush=True)
    names = ([f"process#{i}" for i in range(process_workers)]
             + [f"infer#{i}" for i in range(infer_workers)] + ["produce"])
    with bench_stack(settings, names, log_dir, history_hours=history_hours) as (
            running, services):
        monitor = PipelineMonitor(running, every_s=min(every_s, 5.0)).start()
        stop = threading.Event()
        reader = threading.Thread(target=collect, args=(running, lambda _: stop.is_set()),
                                  kwargs={"stamps": stamps}, name="latency", daemon=True)
        if stamps is not None:
            reader.start()
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
            stop.set()
            monitor.stop()
            if reader.is_alive():
                reader.join(timeout=30)


def step_figures(stamps: Stamps, step_interval_s: float) -> tuple[list[StepFigures], bool | None]:
    """Per step (the windows' end), and whether every step judged drained before the next
    one closed; a step is judged once a whole interval followed its first window."""
    by_step: dict[str, list[str]] = {}
    for wid in stamps.closed:
        by_step.setdefault(wid.partition("@")[2], []).append(wid)
    steps, judged = [], []
    for end in sorted(by_step):
        ids = by_step[end]
        _, seconds = latency_figures({i: stamps.closed[i] for i in ids}, stamps.forecast_at)
        computed = sum(1 for i in ids if stamps.model_of.get(i, WARMING_UP) != WARMING_UP)
        figures = StepFigures(
            end=end, windows=len(ids), forecasts=int(seconds.size), computed=computed,
            p95_s=round(spread(seconds)["p95_s"], 2) if seconds.size else None,
            max_s=round(float(seconds.max()), 2) if seconds.size else None)
        steps.append(figures)
        if min(stamps.closed[i] for i in ids) + step_interval_s <= stamps.read_until:
            judged.append(figures.forecasts == figures.windows and figures.max_s is not None
                          and figures.max_s <= step_interval_s)
    return steps, (all(judged) if judged else None)


def latency_summary(stamps: Stamps) -> dict[str, float]:
    missing, seconds = latency_figures(stamps.closed, stamps.forecast_at)
    figures = {k: round(v, 2) for k, v in spread(seconds).items()}
    return {"windows": len(stamps.closed), "forecasts": int(seconds.size),
            "unanswered": missing, **figures}


def summarise(settings: Settings, process_workers: int, samples: list[LoadSample],
              warm_up_s: float, *, infer_workers: int = 1, history_hours: float = 0.0,
              stamps: Stamps | None = None) -> LoadSummary:
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
    steps, drained = (step_figures(stamps, settings.step_seconds / settings.speed)
                      if stamps is not None else ([], None))
    return LoadSummary(
        servers=settings.servers, speed=settings.speed, process_workers=process_workers,
        infer_workers=infer_workers, history_hours=history_hours,
        batch_size=settings.batch_size,
        forward_chunk_windows=settings.forward_chunk_windows, duration_s=round(last.elapsed_s, 1),
        events_per_s=round((last.topics["metrics"] - first.topics["metrics"]) / span, 1),
        windows_per_s=round((last.topics["windows"] - first.topics["windows"]) / span, 1),
        dead_letters=last.topics["deadletter"],
        process_lag_first_quarter=mean_lag(measured[:quarter]),
        process_lag_last_quarter=mean_lag(measured[-quarter:]),
        process_lag_max=max(process_lags) if process_lags else None,
        infer_lag_max=max(infer_lags) if infer_lags else None,
        rss_mb_start=first.rss_mb, rss_mb_end=last.rss_mb,
        cpu_share={k: round(v / cpu_total, 3) for k, v in last.cpu_s.items()},
        cpu_cores={k: round((v - first.cpu_s.get(k, 0.0)) / span, 2)
                   for k, v in last.cpu_s.items()},
        latency=latency_summary(stamps) if stamps is not None else {},
        computed=stamps.computed() if stamps is not None else {},
        steps=steps, drained_within_step=drained,
    )


def cmd_load(args: argparse.Namespace) -> int:
    from fleetcast.bench.command import model_ran, stack_settings

    settings = stack_settings(args)
    samples: list[LoadSample] = []
    stamps = Stamps()
    for sample in run_load(settings, process_workers=args.process_workers,
                           infer_workers=args.infer_workers, duration_s=args.minutes * 60,
                           every_s=args.every, history_hours=args.history_hours,
                           stamps=stamps):
        samples.append(sample)
        print(json.dumps(sample.to_json()), flush=True)
    if not samples:
        return 1
    summary = summarise(settings, args.process_workers, samples, warm_up_s=args.warm_up,
                        infer_workers=args.infer_workers, history_hours=args.history_hours,
                        stamps=stamps)
    print(json.dumps({"summary": summary.to_json()}), flush=True)
    return model_ran(args.forecaster, int(summary.latency.get("forecasts", 0)), summary.computed)


def add_load_bench(kinds: Any) -> None:
    """``fleetcast bench load`` on the subparsers of ``fleetcast bench``."""
    from fleetcast.bench.command import add_stack_arguments

    load = kinds.add_parser(
        "load", help="A large simulated fleet through the stack: lag, latency, memory, CPU.")
    load.set_defaults(bench_handler=cmd_load)
    load.add_argument("--servers", type=int, default=10_000)
    add_stack_arguments(load, speed=1.0, forecaster="tft")
    load.add_argument("--minutes", type=float, default=30.0, help="Real minutes to run.")
    load.add_argument("--process-workers", type=int, default=1,
                      help="Faust worker processes in the one group.")
    load.add_argument("--infer-workers", type=int, default=1,
                      help="Inference worker processes in the one group.")
    load.add_argument("--every", type=float, default=15.0, help="Seconds between samples.")
    load.add_argument("--warm-up", type=float, default=120.0,
                      help="Seconds left out of the summary.")
