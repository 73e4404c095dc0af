"""Alert quality on real incidents: the product's replayed alerts beside the anchor rules.

The product's path (``alert_replay``: windows -> forecaster -> ``score_batch``
-> ``AlertTracker``) is asked at the origins of ``modelling.incidents`` (every
``every_min`` minutes on the clock once a server has 24 h of rows). The
window of the origin at step ``t`` is the one that closed step ``t - 1``: it
ends at the origin and sees only the steps before it, like the anchors. The
alert state at an origin is the tracker's open alert of that server after the
batch: ``fleetcast_warning`` is open when that alert is ``warning`` or worse,
``fleetcast_danger`` when it is ``danger`` or worse (alert states per server,
as the tracker keeps them). The anchors of ``modelling.anchors.RULES`` are
asked the same origins, per server and incident metric. Everything is judged
by ``modelling.incidents.judge_rule``.

The same replay collects the crossing pairs of ``modelling.calibration`` (raw
scores at the incident level from each forecast's quantiles).

Servers are replayed in chunks (the tracker's state is per server, so chunks
are independent); with a checkpoint folder each finished chunk is written
there as JSON and a rerun with the same data, forecaster and origins skips it:
a long TFT replay can be stopped and resumed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inference_worker.breach import BreachCalibration, breach
from inference_worker.forecaster import Forecaster
from modelling import anchors, incidents
from modelling.alert_replay import ServerArrays, replay_windows, server_arrays
from modelling.calibration import WINDOW_NS as CAL_WINDOW_NS
from modelling.calibration import (
    CrossingPairs,
    ReliabilityBin,
    brier,
    climatology_brier,
    outcomes,
    reliability,
)
from schemas.alert import AlertEvent
from schemas.common import METRICS
from schemas.forecast import MetricForecast
from schemas.grid import CONTEXT_STEPS
from schemas.severity import Severity, rank

log = logging.getLogger(__name__)

INCIDENT_METRICS = ("cpu_pct", "mem_pct")
#: The product's two rules: its alert open at warning or worse, and at danger or worse.
PRODUCT_RULES: dict[str, Severity] = {"fleetcast_warning": "warning", "fleetcast_danger": "danger"}
RULE_NAMES = (*PRODUCT_RULES, *anchors.RULES)


@dataclass
class ChunkReplay:
    """What replaying some servers gave: their alert events, alert ranks at origins, pairs."""

    events: list[AlertEvent]
    origin_ns: dict[str, np.ndarray]  # server -> origin times
    open_rank: dict[str, np.ndarray]  # server -> rank of the open alert per origin, -1: none
    pairs: CrossingPairs
    windows: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "events": [e.model_dump(mode="json") for e in self.events],
            "origin_ns": {s: v.tolist() for s, v in self.origin_ns.items()},
            "open_rank": {s: v.tolist() for s, v in self.open_rank.items()},
            "pairs": self.pairs.to_json(),
            "windows": self.windows,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChunkReplay:
        return cls(
            events=[AlertEvent.model_validate(e) for e in data["events"]],
            origin_ns={s: np.array(v, dtype=np.int64) for s, v in data["origin_ns"].items()},
            open_rank={s: np.array(v, dtype=np.int64) for s, v in data["open_rank"].items()},
            pairs=CrossingPairs.from_json(data["pairs"]),
            windows=int(data.get("windows", 0)),
            seconds=float(data.get("seconds", 0.0)),
        )


def origins_of(arrays: Mapping[str, ServerArrays], every_min: int) -> dict[str, np.ndarray]:
    """Origin steps per server (servers with none are left out)."""
    out = {}
    for server, (stamps, _) in arrays.items():
        steps = incidents.origin_steps(stamps.asi8, every_min)
        if len(steps):
            out[server] = steps
    return out


def _batch_pairs(
    scored_servers: Sequence[str], quantiles: Sequence[Mapping[str, MetricForecast]], at_ns: int,
    level: float,
) -> CrossingPairs:
    """Raw crossing scores at ``level`` of every incident metric forecast in one batch."""
    servers, metrics, rows = [], [], []
    for server, by_metric in zip(scored_servers, quantiles, strict=True):
        for metric in INCIDENT_METRICS:
            forecast = by_metric.get(metric)
            if forecast is None:
                continue
            servers.append(server)
            metrics.append(metric)
            rows.append([forecast.p10, forecast.p50, forecast.p90])
    if not rows:
        return CrossingPairs.empty()
    q = np.asarray(rows, dtype=np.float64)  # (n, 3, horizon)
    outlook = breach(q[:, 0], q[:, 1], q[:, 2], level)
    return CrossingPairs(np.array(servers, dtype=object), np.array(metrics, dtype=object),
                         np.full(len(rows), at_ns, dtype=np.int64),
                         outlook.score_30_min, outlook.score_8_h)


def replay_chunk(
    arrays: Mapping[str, ServerArrays],
    forecaster: Forecaster,
    origin_steps: Mapping[str, np.ndarray],
    *,
    level: float = incidents.LEVEL,
    context_steps: int = CONTEXT_STEPS,
    progress_every_s: float = 30.0,
    label: str = "",
    calibration: BreachCalibration | None = None,
) -> ChunkReplay:
    """Replay these servers at their origins (see the module docstring)."""
    last_steps = {s: np.asarray(o) - 1 for s, o in origin_steps.items()}
    total = int(sum(len(v) for v in last_steps.values()))
    ranks: dict[str, list[int]] = {s: [] for s in last_steps}
    times: dict[str, list[int]] = {s: [] for s in last_steps}
    events: list[AlertEvent] = []
    pairs: list[CrossingPairs] = []
    done, started = 0, time.perf_counter()
    shown = started
    for batch in replay_windows(arrays, forecaster, last_steps, context_steps=context_steps,
                                calibration=calibration):
        at_ns = int(batch.at.value)
        for server in batch.server_ids:
            severity = batch.open_alerts.get(server)
            ranks[server].append(-1 if severity is None else rank(severity))
            times[server].append(at_ns)
        events.extend(s.alert for s in batch.scored if s.alert is not None)
        pairs.append(_batch_pairs(batch.server_ids, [s.forecast.quantiles for s in batch.scored],
                                  at_ns, level))
        done += len(batch.scored)
        now = time.perf_counter()
        if now - shown >= progress_every_s:
            rate = done / (now - started)
            log.info("alert replay %s: %d/%d windows, %.0f windows/s, %.0f s left", label, done,
                     total, rate, (total - done) / rate if rate else float("nan"))
            shown = now
    return ChunkReplay(
        events=events,
        origin_ns={s: np.array(v, dtype=np.int64) for s, v in times.items()},
        open_rank={s: np.array(v, dtype=np.int64) for s, v in ranks.items()},
        pairs=CrossingPairs.concat(pairs),
        windows=done,
        seconds=time.perf_counter() - started,
    )


def _chunk_key(arrays: Mapping[str, ServerArrays], servers: Sequence[str], forecaster: Forecaster,
               every_min: int, level: float, *, calibration: BreachCalibration | None) -> str:
    """What a checkpoint depends on: the servers, their data, the forecaster, its calibration
    and the origins."""
    digest = hashlib.sha256()
    digest.update(f"{forecaster.version}|{every_min}|{level}".encode())
    digest.update(json.dumps((calibration or BreachCalibration()).to_json()).encode())
    for server in servers:
        stamps, values = arrays[server]
        digest.update(server.encode())
        digest.update(stamps.asi8.tobytes())
        digest.update(np.nan_to_num(values, nan=-1e300).tobytes())
    return digest.hexdigest()[:16]


def replay_servers(
    arrays: Mapping[str, ServerArrays],
    forecaster: Forecaster,
    every_min: int,
    *,
    level: float = incidents.LEVEL,
    chunk_servers: int = 25,
    checkpoint_dir: Path | None = None,
    calibration: BreachCalibration | None = None,
) -> ChunkReplay:
    """Replay every server in chunks of ``chunk_servers``, resuming from ``checkpoint_dir``."""
    origins = origins_of(arrays, every_min)
    servers = sorted(origins, key=_natural)
    parts = []
    for i in range(0, len(servers), chunk_servers):
        chunk = servers[i : i + chunk_servers]
        label = f"servers {i + 1}-{i + len(chunk)} of {len(servers)}"
        path = None
        if checkpoint_dir is not None:
            key = _chunk_key(arrays, chunk, forecaster, every_min, level,
                             calibration=calibration)
            path = checkpoint_dir / f"chunk-{i // chunk_servers:04d}-{key}.json"
            if path.is_file():
                log.info("alert replay %s: resumed from %s", label, path)
                parts.append(ChunkReplay.from_json(json.loads(path.read_text())))
                continue
        part = replay_chunk({s: arrays[s] for s in chunk}, forecaster,
                            {s: origins[s] for s in chunk}, level=level, label=label,
                            calibration=calibration)
        log.info("alert replay %s: %d windows in %.1f s (%.0f/s)", label, part.windows,
                 part.seconds, part.windows / max(part.seconds, 1e-9))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(part.to_json()))
            tmp.replace(path)  # a killed run never leaves a half-written checkpoint
        parts.append(part)
    return ChunkReplay(
        events=sorted((e for p in parts for e in p.events),
                      key=lambda e: (e.issued_at, _natural(e.server_id))),
        origin_ns={s: v for p in parts for s, v in p.origin_ns.items()},
        open_rank={s: v for p in parts for s, v in p.open_rank.items()},
        pairs=CrossingPairs.concat([p.pairs for p in parts]),
        windows=sum(p.windows for p in parts),
        seconds=sum(p.seconds for p in parts),
    )


def _natural(server: str) -> tuple[str, int]:
    """``bbvm2`` before ``bbvm10``."""
    head = server.rstrip("0123456789")
    tail = server[len(head):]
    return head, int(tail) if tail else -1


@dataclass
class AlertEvaluation:
    rules: dict[str, incidents.RuleQuality]
    incidents: list[incidents.Incident]
    server_days: float
    servers: int
    every_min: int
    replay: ChunkReplay
    calibration: dict[str, float | None] = field(default_factory=dict)
    reliability: list[ReliabilityBin] = field(default_factory=list)
    calibrated: bool = False


def anchor_states(
    arrays: Mapping[str, ServerArrays], origins: Mapping[str, np.ndarray]
) -> dict[str, dict[tuple[str, str], incidents.AlertSeries]]:
    """Per anchor rule, its alert states per (server, incident metric) at the origins."""
    out: dict[str, dict[tuple[str, str], incidents.AlertSeries]] = {r: {} for r in anchors.RULES}
    for server, steps in origins.items():
        stamps, values = arrays[server]
        for metric in INCIDENT_METRICS:
            column = values[:, METRICS.index(metric)]
            for name, rule in anchors.RULES.items():
                out[name][(server, metric)] = incidents.AlertSeries(
                    stamps.asi8[steps], rule(column, steps))
    return out


def product_states(replay: ChunkReplay, at_least: Severity) -> dict[str, incidents.AlertSeries]:
    """The product's alert open at ``at_least`` or worse, per server at its origins."""
    floor = rank(at_least)
    return {s: incidents.AlertSeries(replay.origin_ns[s], replay.open_rank[s] >= floor)
            for s in replay.origin_ns}


def evaluate_alerts(
    wide: pd.DataFrame,
    forecaster: Forecaster,
    every_min: int,
    *,
    calibration: BreachCalibration | None = None,
    checkpoint_dir: Path | None = None,
    chunk_servers: int = 25,
) -> AlertEvaluation:
    """Replay the product with the model's ``calibration`` (as the worker serves it), judge
    every rule of ``RULE_NAMES``, and score the 8 h probability's calibration."""
    arrays = server_arrays(wide)
    origins = origins_of(arrays, every_min)
    found = incidents.find_incidents(wide, INCIDENT_METRICS)
    first = {s: pd.Timestamp(int(arrays[s][0].asi8[o[0]]), tz="UTC") for s, o in origins.items()}
    judged = incidents.judgeable(found, first)
    server_days = sum(incidents.span_days(arrays[s][0].asi8, o) for s, o in origins.items())
    replay = replay_servers(arrays, forecaster, every_min, chunk_servers=chunk_servers,
                            checkpoint_dir=checkpoint_dir, calibration=calibration)
    states: dict[str, incidents.AlertStates] = {
        name: product_states(replay, severity) for name, severity in PRODUCT_RULES.items()
    }
    states.update(anchor_states(arrays, origins))
    rules = {
        name: incidents.judge_rule(judged, states[name], alert_every_min=every_min,
                                   server_days=server_days)
        for name in RULE_NAMES
    }
    pairs = replay.pairs
    seen = np.isfinite(pairs.score_8h)
    raw = pairs.score_8h[seen]
    probability = (calibration or BreachCalibration()).p_8h(raw)
    outcome = outcomes(pairs, found, CAL_WINDOW_NS["p_8h"])[seen]
    return AlertEvaluation(
        rules=rules, incidents=judged, server_days=server_days, servers=len(origins),
        every_min=every_min, replay=replay,
        calibration={"brier_8h": brier(probability, outcome),
                     "brier_climatology_8h": climatology_brier(outcome),
                     "pairs_8h": len(outcome),
                     "base_rate_8h": float(outcome.mean()) if len(outcome) else None},
        reliability=list(reliability(probability, outcome)),
        calibrated=calibration is not None,
    )


def collect_pairs(
    wide: pd.DataFrame, forecaster: Forecaster, every_min: int, *,
    checkpoint_dir: Path | None = None,
) -> tuple[CrossingPairs, list[incidents.Incident]]:
    """The hold-out pairs and incidents ``calibration.fit_calibration`` needs."""
    replay = replay_servers(server_arrays(wide), forecaster, every_min,
                            checkpoint_dir=checkpoint_dir)
    return replay.pairs, incidents.find_incidents(wide, INCIDENT_METRICS)


def write_alerts_jsonl(events: Sequence[AlertEvent], path: Path) -> Path:
    """One ``AlertEvent`` JSON per line; ``issued_at`` is the replayed window's end."""
    with path.open("w") as out:
        for event in events:
            out.write(event.model_dump_json() + "\n")
    return path
