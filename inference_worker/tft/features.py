"""Long-format frames for the TFT: one row per (server, metric, 5-minute step).

Known future covariates come from the calendar (time of day, day of week as
sine/cosine pairs), so they exist for decoder rows too: a forecast starts one
step after the last observed step and its rows carry the real covariates of
the hours it forecasts.

Two optional inputs, switched on per model by its config (``InputSpec``; old
models have neither, and their frames are as before):

- ``log1p_metrics``: metrics whose values enter the model as ``log1p(max(x, 0))``.
  Network rates are heavy-tailed (a VM idles at 0.01 Mbit/s and bursts to
  hundreds): standardising the raw rate by its window lets one burst set the
  scale of everything else. The model forecasts in these units and the
  forecasts are turned back with ``expm1``; quantiles survive any monotone map.
- ``yesterday``: a known future real holding, for every step, the value
  ``STEPS_PER_DAY`` (24 h) earlier. For the decoder steps t..t+95 of a forecast
  made at t that is t-288..t-193, inside the 24 h context, so it is observed at
  forecast time: "same time yesterday" enters the decoder directly instead of
  being something the attention must find. Where the series is younger than
  a day, its first value stands in (the same rule in every path). The model
  uses it in the decoder only (``model.make_dataset``): for encoder steps it
  would need the day before the context, which the worker does not keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from schemas.common import METRICS
from schemas.grid import STEPS_PER_DAY
from schemas.profiles import profile_for

STEP = pd.Timedelta(minutes=5)
EPOCH = pd.Timestamp(0, tz="UTC")
COVARIATES = ("tod_sin", "tod_cos", "dow_sin", "dow_cos")
YESTERDAY = "yesterday"
DAY_LAG = STEPS_PER_DAY


@dataclass(frozen=True)
class InputSpec:
    """How a series' values become the model's inputs (see the module's docstring)."""

    log1p_metrics: tuple[str, ...] = ()
    yesterday: bool = False

    def to_model(self, metric: str, values: np.ndarray) -> np.ndarray:
        """Metric units to model units (NaN stays NaN)."""
        if metric in self.log1p_metrics:
            return np.log1p(np.maximum(values, 0.0))
        return values

    def from_model(self, metric: str, values: np.ndarray) -> np.ndarray:
        """Model units (forecasts) back to metric units."""
        if metric in self.log1p_metrics:
            return np.expm1(values)
        return values


def day_ago(values: np.ndarray, lag: int = DAY_LAG) -> np.ndarray:
    """``values[i - lag]``, and ``values[0]`` where ``i < lag`` (a series younger than a day)."""
    out = np.full_like(values, values[0])
    if len(values) > lag:
        out[lag:] = values[:-lag]
    return out


def calendar(timestamps: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    day_fraction = (timestamps.hour * 60 + timestamps.minute).to_numpy() / 1440.0
    week_fraction = (timestamps.dayofweek.to_numpy() + day_fraction) / 7.0
    return {
        "tod_sin": np.sin(2 * np.pi * day_fraction).astype(np.float32),
        "tod_cos": np.cos(2 * np.pi * day_fraction).astype(np.float32),
        "dow_sin": np.sin(2 * np.pi * week_fraction).astype(np.float32),
        "dow_cos": np.cos(2 * np.pi * week_fraction).astype(np.float32),
    }


def time_index(timestamps: pd.DatetimeIndex) -> np.ndarray:
    """Steps since the epoch: a global integer clock shared by every series."""
    # Through timedeltas, not asi8: pandas 3 may hold microseconds, not nanoseconds.
    return np.asarray((timestamps - EPOCH) // STEP, dtype=np.int64)


def series_frame(
    *,
    series_id: str,
    server_id: str,
    metric: str,
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    horizon: int = 0,
    spec: InputSpec | None = None,
) -> pd.DataFrame | None:
    """One series on a regular grid: leading gaps dropped, inner gaps carried forward, and
    ``horizon`` future rows (value 0, a placeholder the model never sees) appended.

    Values are in model units (``spec.to_model``); with ``spec.yesterday`` the frame
    has a ``yesterday`` column. Returns None when nothing was ever observed.
    """
    spec = spec or InputSpec()
    observed = np.flatnonzero(np.isfinite(values))
    if observed.size == 0:
        return None
    first = observed[0]
    kept = pd.Series(spec.to_model(metric, values[first:]), dtype="float64").ffill()
    kept_values = kept.to_numpy(np.float32)
    stamps = timestamps[first:]
    if horizon:
        assert horizon <= DAY_LAG, "the decoder's day-ago values must lie in the context"
        future = pd.date_range(stamps[-1] + STEP, periods=horizon, freq=STEP)
        stamps = stamps.append(future)
        kept_values = np.concatenate([kept_values, np.zeros(horizon, dtype=np.float32)])
    extra = {YESTERDAY: day_ago(kept_values)} if spec.yesterday else {}
    return pd.DataFrame({
        "series": series_id,
        "metric": metric,
        "profile": profile_for(server_id),
        "time_idx": time_index(stamps),
        "value": kept_values,
        **calendar(stamps),
        **extra,
    })


def long_frame(wide: pd.DataFrame, metrics: Sequence[str] = METRICS,
               spec: InputSpec | None = None) -> pd.DataFrame:
    """Metric-event columns (server_id, timestamp, metrics...) to one long frame.

    Each server is put on a regular 5-minute grid (means within a step, gaps
    where it was silent) before it is split into one series per metric; a series
    never observed (a metric the source lacks: Bitbrains has no disk) is dropped.
    """
    frames = []
    wide = wide.assign(timestamp=pd.to_datetime(wide["timestamp"], utc=True))
    for server_id, rows in wide.groupby("server_id", sort=True):
        grid = (rows.set_index("timestamp")[[m for m in metrics if m in rows]]
                .resample(STEP).mean())
        for metric in grid.columns:
            frame = series_frame(
                series_id=f"{server_id}/{metric}", server_id=str(server_id), metric=metric,
                timestamps=grid.index, values=grid[metric].to_numpy(np.float64), spec=spec,
            )
            if frame is not None:
                frames.append(frame)
    if not frames:
        raise ValueError("no metric values in the data")
    return pd.concat(frames, ignore_index=True)
