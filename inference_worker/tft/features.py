"""Long-format frames for the TFT: one row per (server, metric, 5-minute step).

Known future covariates come from the calendar alone (time of day, day of
week as sine/cosine pairs), so they exist for decoder rows too: a forecast
starts one step after the last observed step and its rows carry the real
covariates of the hours it forecasts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from schemas.common import METRICS
from schemas.profiles import profile_for

STEP = pd.Timedelta(minutes=5)
EPOCH = pd.Timestamp(0, tz="UTC")
COVARIATES = ("tod_sin", "tod_cos", "dow_sin", "dow_cos")


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
) -> pd.DataFrame | None:
    """One series on a regular grid: leading gaps dropped, inner gaps carried forward, and
    ``horizon`` future rows (value 0, a placeholder the model never sees) appended.

    Returns None when nothing was ever observed.
    """
    observed = np.flatnonzero(np.isfinite(values))
    if observed.size == 0:
        return None
    first = observed[0]
    kept = pd.Series(values[first:], dtype="float64").ffill().to_numpy(np.float32)
    stamps = timestamps[first:]
    if horizon:
        future = pd.date_range(stamps[-1] + STEP, periods=horizon, freq=STEP)
        stamps = stamps.append(future)
        kept = np.concatenate([kept, np.zeros(horizon, dtype=np.float32)])
    return pd.DataFrame({
        "series": series_id,
        "metric": metric,
        "profile": profile_for(server_id),
        "time_idx": time_index(stamps),
        "value": kept,
        **calendar(stamps),
    })


def long_frame(wide: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Metric-event columns (server_id, timestamp, metrics...) to one long frame.

    Each server is put on a regular 5-minute grid (means within a step, gaps
    where it was silent) before it is split into one series per metric.
    """
    frames = []
    wide = wide.assign(timestamp=pd.to_datetime(wide["timestamp"], utc=True))
    for server_id, rows in wide.groupby("server_id", sort=True):
        grid = (rows.set_index("timestamp")[[m for m in metrics if m in rows]]
                .resample(STEP).mean())
        for metric in grid.columns:
            frame = series_frame(
                series_id=f"{server_id}/{metric}", server_id=str(server_id), metric=metric,
                timestamps=grid.index, values=grid[metric].to_numpy(np.float64),
            )
            if frame is not None:
                frames.append(frame)
    if not frames:
        raise ValueError("no metric values in the data")
    return pd.concat(frames, ignore_index=True)
