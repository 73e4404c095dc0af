"""The ``Forecaster`` interface every model behind the worker implements.

A forecaster takes a batch of context windows as one array and returns
p10/p50/p90 for ``horizon_steps`` steps of every metric, starting one step
after the last observed step. Batch in, batch out, same order: the worker
maps the outputs back to their windows by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from schemas.common import METRICS
from schemas.context_window import ContextWindow

QUANTILES = ("p10", "p50", "p90")


@dataclass(frozen=True)
class Batch:
    """Windows as arrays: ``values[b, m, t]`` (NaN for gaps) in ``METRICS`` order.

    Windows are aligned on their last step: one shorter than the longest in the
    batch is padded with leading gaps.
    """

    windows: Sequence[ContextWindow]
    values: np.ndarray  # float32 (batch, metrics, steps)

    @classmethod
    def of(cls, windows: Sequence[ContextWindow]) -> Batch:
        steps = max((window.steps for window in windows), default=0)
        values = np.full((len(windows), len(METRICS), steps), np.nan, dtype=np.float32)
        for b, window in enumerate(windows):
            for m, name in enumerate(METRICS):
                series = window.values[name]
                values[b, m, steps - window.steps :] = [np.nan if v is None else v for v in series]
        return cls(windows=windows, values=values)


def carry_forward(x: np.ndarray) -> np.ndarray:
    """Carry the last observation forward over gaps along the last axis; leading gaps stay NaN."""
    steps = x.shape[-1]
    idx = np.where(np.isfinite(x), np.arange(steps), 0)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    filled = np.take_along_axis(x, idx, axis=-1)
    first_seen = np.isfinite(x).cumsum(axis=-1) > 0
    return np.where(first_seen, filled, np.nan)


class Forecaster(Protocol):
    version: str
    horizon_steps: int
    min_context_steps: int

    def predict(self, batch: Batch) -> np.ndarray:
        """Quantiles ``[b, m, q, h]`` (q in ``QUANTILES`` order) in metric units; NaN where a
        metric has no history."""
        ...
