"""The worker's own path replayed offline: windows -> forecaster -> scoring -> alert state machine.

One loop serves the simulator's alert quality (``alert_quality``) and the
evaluation on real servers (``real_alerts``). Recorded history is cut into the
context windows a stream processor would have published (``window_at``), and
at each replayed moment the windows of every server due then go through
``inference_worker.batch_scoring.score_batch`` as one batch, with one
``AlertTracker`` carrying the alert lifecycle from batch to batch, exactly as
the worker does with a micro-batch. Replaying time-major (all servers at one
moment, then the next moment) keeps each batch's alerts issued at that
moment: the window's end.

The tracker keeps state per server only, so servers are independent: a
replay of servers A and B equals the replays of A and of B put together.
``real_alerts`` uses this to replay in chunks of servers that can be
checkpointed and resumed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta

import numpy as np
import pandas as pd

from inference_worker.alerts import AlertTracker
from inference_worker.batch_scoring import Scored, score_batch
from inference_worker.breach import BreachCalibration
from inference_worker.forecaster import Forecaster
from schemas.common import METRICS
from schemas.context_window import ContextWindow
from schemas.profiles import profile_for
from schemas.severity import Severity

STEP = timedelta(minutes=5)
#: ``(step starts, values[step, metric])`` of one server, metrics in ``METRICS`` order.
ServerArrays = tuple[pd.DatetimeIndex, np.ndarray]


def server_arrays(wide: pd.DataFrame) -> dict[str, ServerArrays]:
    """Per server, its 5-minute step starts and a (steps, metrics) array (NaN: no reading)."""
    out = {}
    for server_id, rows in wide.groupby("server_id", sort=True):
        ordered = rows.sort_values("timestamp")
        stamps = pd.DatetimeIndex(pd.to_datetime(ordered["timestamp"], utc=True)).as_unit("ns")
        block = np.full((len(ordered), len(METRICS)), np.nan)
        for m, name in enumerate(METRICS):
            if name in ordered:
                block[:, m] = ordered[name].to_numpy(np.float64)
        out[str(server_id)] = (stamps, block)
    return out


def window_at(
    server_id: str, stamps: pd.DatetimeIndex, values: np.ndarray, t: int, steps: int
) -> ContextWindow:
    """The window a stream processor publishes when step ``t`` closes (its last step is ``t``).

    A step with no reading of any metric counts 0 events (the stream saw nothing then),
    so the forecaster's minimum-context rule sees real gaps as gaps.
    """
    first = max(0, t - steps + 1)
    block = values[first : t + 1]
    pad = steps - len(block)
    series: dict[str, list[float | None]] = {}
    for m, name in enumerate(METRICS):
        column = block[:, m]
        observed = np.where(np.isfinite(column), column, np.array(None)).tolist()
        series[name] = [None] * pad + observed
    seen = np.isfinite(block).any(axis=1)
    return ContextWindow(
        server_id=server_id,
        profile=profile_for(server_id),
        end=(stamps[t] + STEP).to_pydatetime().astimezone(UTC),
        steps=steps,
        values=series,
        counts=[0] * pad + np.where(seen, 5, 0).tolist(),
    )


@dataclass(frozen=True)
class ReplayedBatch:
    """One replayed moment: the windows that closed then, scored, and the alerts then open."""

    at: pd.Timestamp  # the windows' end: where their forecasts start, when alerts were issued
    server_ids: tuple[str, ...]
    scored: tuple[Scored, ...]
    #: After this batch: the severity of every open alert, by server (all servers, not only
    #: those in the batch; an alert stays open until its server is scored below warning).
    open_alerts: Mapping[str, Severity]


def replay_windows(
    arrays: Mapping[str, ServerArrays],
    forecaster: Forecaster,
    last_steps: Mapping[str, np.ndarray],
    *,
    context_steps: int,
    tracker: AlertTracker | None = None,
    calibration: BreachCalibration | None = None,
) -> Iterator[ReplayedBatch]:
    """Score the windows whose last steps are ``last_steps[server]``, moment by moment, with
    the model's ``calibration`` as the worker applies it.

    Windows that end at the same instant form one batch (one forecaster call), and
    batches come in time order, so ``tracker`` sees every server's windows in order.
    """
    tracker = tracker or AlertTracker()
    ends = []
    step_ns = int(STEP.total_seconds() * 1e9)
    for server_id, wanted in last_steps.items():
        steps = np.asarray(wanted, dtype=np.int64)
        ends.append(pd.DataFrame({"end": arrays[server_id][0].asi8[steps] + step_ns,
                                  "server": server_id, "step": steps}))
    if not ends:
        return
    plan = pd.concat(ends, ignore_index=True).sort_values(["end", "server"], kind="stable")
    for end_ns, group in plan.groupby("end", sort=True):
        windows = [
            window_at(server, *arrays[server], int(step), context_steps)
            for server, step in zip(group["server"], group["step"], strict=True)
        ]
        at = pd.Timestamp(int(end_ns), unit="ns", tz="UTC")
        scored = score_batch(forecaster, windows, tracker, at.to_pydatetime(), calibration)
        yield ReplayedBatch(
            at=at,
            server_ids=tuple(group["server"]),
            scored=tuple(scored),
            open_alerts={s: a.severity for s, a in tracker.open_alerts().items()},
        )


def every_step(
    arrays: Mapping[str, ServerArrays], first: int, stride: int
) -> dict[str, np.ndarray]:
    """Last steps ``first, first + stride, ...`` of every server (the simulator's replay)."""
    return {s: np.arange(first, len(stamps), stride) for s, (stamps, _) in arrays.items()}


def count_windows(last_steps: Mapping[str, np.ndarray]) -> int:
    return int(sum(len(v) for v in last_steps.values()))


ProgressFn = Callable[[int, int], None]
