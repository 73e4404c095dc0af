"""Event-time 5-minute steps per server, the pure core of the stream processor.

A server's state holds its closed history (at most ``context_steps`` steps,
contiguous, gaps as ``None``), the steps still open, and its watermark (the
latest event time seen). A step ``[s, s + step)`` closes once the watermark
passes ``s + step + grace``; every step between the last closed one and the
newest closable one closes then, empty ones as gaps. Events for a step that
has already closed are late and rejected with a reason.

The state is a plain JSON-able dict so that the Faust table can write it to
its changelog as it is. ``last_offset`` records the newest source offset the
state includes, so events replayed after a crash are recognised and skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schemas.common import METRICS
from schemas.context_window import ContextWindow
from schemas.grid import CONTEXT_STEPS
from schemas.metric_event import MetricEvent
from schemas.profiles import profile_for

State = dict[str, Any]


@dataclass(frozen=True)
class WindowConfig:
    step_seconds: int = 300
    context_steps: int = CONTEXT_STEPS
    grace_seconds: int = 60


@dataclass
class StepResult:
    """What one event did to a server's state."""

    accepted: bool
    reason: str | None = None  # why it was rejected or skipped
    duplicate: bool = False  # already in the state (a replay after a restart)
    closed_steps: int = 0
    window: ContextWindow | None = None  # set when a step closed
    events_in_closed: int = 0  # events that went into the steps just closed


def new_state(server_id: str) -> State:
    return {
        "server_id": server_id,
        "profile": profile_for(server_id),
        "last_closed_step": None,  # step index (epoch seconds // step_seconds)
        "history": {name: [] for name in METRICS},  # means, oldest first
        "counts": [],  # events per closed step
        # str(step index) -> {"n": events, "sum": {metric: s}, "cnt": {metric: c},
        #                     "ts": [event epoch seconds, to spot resends]}
        "open": {},
        "watermark": None,  # epoch seconds of the latest event
        "last_offset": None,  # newest source offset included (per the server's partition)
    }


def seeded_state(
    server_id: str, history: dict[str, list[float | None]], counts: list[int],
    last_closed_step: int, watermark: float,
) -> State:
    """A server's state with ``history`` already closed through ``last_closed_step``.

    For a state built outside the stream (a benchmark's history written straight to the
    table's changelog): the same layout ``add_event`` keeps, nothing open.
    """
    if any(len(series) != len(counts) for series in history.values()) or set(history) != set(
            METRICS):
        raise ValueError("history needs one series per metric, as long as counts")
    state = new_state(server_id)
    state.update(last_closed_step=last_closed_step, history=history, counts=counts,
                 watermark=watermark)
    return state


def add_event(
    state: State, event: MetricEvent, config: WindowConfig, offset: int | None = None
) -> StepResult:
    """Fold one event into ``state`` (mutated in place) and close the steps it makes closable."""
    if offset is not None and state["last_offset"] is not None and offset <= state["last_offset"]:
        return StepResult(accepted=False, duplicate=True, reason="replayed offset already applied")
    ts = event.timestamp.timestamp()
    step = math.floor(ts / config.step_seconds)
    last_closed = state["last_closed_step"]
    if last_closed is not None and step <= last_closed:
        if offset is not None:
            state["last_offset"] = offset
        return StepResult(
            accepted=False,
            reason=(
                f"late event: its 5-minute step {_iso(step * config.step_seconds)} closed "
                f"already (grace {config.grace_seconds} s)"
            ),
        )
    bucket = state["open"].setdefault(str(step), _empty_open())
    # The same server and timestamp twice is a resend (a producer retry, a
    # replayed file), not a second reading: averaging it in would weight it double.
    seen = bucket.setdefault("ts", [])
    if ts in seen:
        if offset is not None:
            state["last_offset"] = offset
        return StepResult(
            accepted=False,
            reason=f"duplicate event: {event.server_id} at {_iso(ts)} was already applied",
        )
    seen.append(ts)
    _accumulate(bucket, event)
    if state["watermark"] is None or ts > state["watermark"]:
        state["watermark"] = ts
    if offset is not None:
        state["last_offset"] = offset
    closable = math.floor((state["watermark"] - config.grace_seconds) / config.step_seconds) - 1
    if last_closed is not None and closable <= last_closed:
        return StepResult(accepted=True)
    if last_closed is None:
        # The first step ever seen for this server starts its history.
        first_open = min(int(s) for s in state["open"])
        if closable < first_open:
            return StepResult(accepted=True)
        last_closed = first_open - 1
    closed_events = _close_through(state, last_closed, closable, config)
    return StepResult(
        accepted=True,
        closed_steps=closable - last_closed,
        window=window_of(state, config),
        events_in_closed=closed_events,
    )


def window_of(state: State, config: WindowConfig) -> ContextWindow:
    """The full ``context_steps`` window ending at the last closed step, left-padded with gaps."""
    pad = config.context_steps - len(state["counts"])
    end = (state["last_closed_step"] + 1) * config.step_seconds
    return ContextWindow(
        server_id=state["server_id"],
        profile=state["profile"],
        end=datetime.fromtimestamp(end, UTC),
        step_seconds=config.step_seconds,
        steps=config.context_steps,
        values={name: [None] * pad + state["history"][name] for name in METRICS},
        counts=[0] * pad + state["counts"],
    )


def _close_through(state: State, last_closed: int, target: int, config: WindowConfig) -> int:
    """Close steps ``last_closed + 1 .. target``; returns how many events they held."""
    history, counts, opened = state["history"], state["counts"], state["open"]
    first = max(last_closed + 1, target - config.context_steps + 1)
    events = 0
    # Steps skipped because they fall before the kept context still hold events.
    for key in [k for k in opened if int(k) < first]:
        events += opened.pop(key)["n"]
    for step in range(first, target + 1):
        bucket = opened.pop(str(step), None)
        if bucket is None:
            counts.append(0)
            for name in METRICS:
                history[name].append(None)
            continue
        events += bucket["n"]
        counts.append(bucket["n"])
        for name in METRICS:
            n = bucket["cnt"][name]
            history[name].append(bucket["sum"][name] / n if n else None)
    overflow = len(counts) - config.context_steps
    if overflow > 0:
        del counts[:overflow]
        for name in METRICS:
            del history[name][:overflow]
    state["last_closed_step"] = target
    return events


def _empty_open() -> dict[str, Any]:
    return {"n": 0, "sum": dict.fromkeys(METRICS, 0.0), "cnt": dict.fromkeys(METRICS, 0), "ts": []}


def pending_events(state: State) -> int:
    """Events accepted into steps that have not closed yet (not in any window so far)."""
    return sum(int(bucket["n"]) for bucket in state["open"].values())


def _accumulate(bucket: dict[str, Any], event: MetricEvent) -> None:
    bucket["n"] += 1
    for name, value in event.values().items():
        if value is not None:
            bucket["sum"][name] += value
            bucket["cnt"][name] += 1


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
