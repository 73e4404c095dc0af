"""Loading series for the backtest: the NAB AWS CloudWatch files and fleetcast metric events.

The Numenta Anomaly Benchmark's ``realAWSCloudwatch/`` folder holds real CloudWatch metrics of
EC2, RDS and ELB instances as ``timestamp,value`` CSV files at (nearly) 5-minute steps:
timestamps are naive (taken as UTC), some files start at odd minutes (``14:27``), and a few
have duplicates, 10-20 minute holes or an hour-long gap. Every series is put on the clock-aligned
5-minute grid the stream processor uses (step ``[s, s + 5 min)`` with ``s`` a multiple of five
minutes since midnight): the mean of the samples inside each step, NaN for empty steps.

The data lives outside the repository, at ``../shared/data/nab`` from the repository root
(:func:`nab_dir`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from modelling.backtest import SeriesData
from schemas.common import METRICS

STEP = "5min"
AWS_FOLDER = "realAWSCloudwatch"

#: File-name patterns (case-insensitive) -> metric label used for grouping in the report.
#: CPU is the only one with fleetcast's unit (percent); the others keep CloudWatch's raw meaning
#: (bytes, request counts), hence labels that are not fleetcast metric names.
_METRIC_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"cpu_?utili[sz]ation", "cpu_pct"),
    (r"disk_?write_?bytes", "disk_write_bytes"),
    (r"disk_?read_?bytes", "disk_read_bytes"),
    (r"network_?in", "net_in"),
    (r"network_?out", "net_out"),
    (r"request_?count", "request_count"),
    (r"latency", "latency"),
)
_HASH_SUFFIX = re.compile(r"_[0-9a-f]{6,}$")

PathLike = str | Path


def nab_dir(data_dir: PathLike) -> Path:
    """The NAB folder under a data folder (``Settings.data_dir``, ``../shared/data`` by default)."""
    return Path(data_dir) / "nab"


def nab_aws_files(nab: PathLike) -> list[Path]:
    """The CSV files of ``realAWSCloudwatch/`` under the NAB folder ``nab``, sorted by name."""
    return sorted((Path(nab) / AWS_FOLDER).glob("*.csv"))


def metric_from_name(path: PathLike) -> str:
    """The metric label for a NAB file name, e.g. ``ec2_cpu_utilization_24ae8d.csv`` ->
    ``cpu_pct``, ``iio_us-east-1_i-a2eb1cd9_NetworkIn.csv`` -> ``net_in``; an unknown name
    gives its stem without a trailing hash (``grok_asg_anomaly``)."""
    stem = Path(path).stem
    for pattern, label in _METRIC_PATTERNS:
        if re.search(pattern, stem, flags=re.IGNORECASE):
            return label
    return _HASH_SUFFIX.sub("", stem).lower()


def _expand(paths: PathLike | Iterable[PathLike]) -> list[Path]:
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        out.extend(sorted(p.glob("*.csv")) if p.is_dir() else [p])
    return out


def to_utc_naive(timestamps: pd.Series) -> pd.DatetimeIndex:
    """Parse timestamps (naive ones are taken as UTC) to a naive UTC index."""
    parsed = pd.to_datetime(timestamps, utc=True, format="ISO8601", errors="coerce")
    return pd.DatetimeIndex(parsed).tz_convert(None)


def regular_grid(index: pd.DatetimeIndex, values: np.ndarray) -> pd.Series:
    """Mean per clock-aligned 5-minute step from the first to the last sample, NaN for gaps."""
    s = pd.Series(np.asarray(values, dtype=np.float64), index=index)
    s = s[s.index.notna()].sort_index()
    return s.resample(STEP).mean()


def load_nab_series(
    paths: PathLike | Iterable[PathLike], metric: str | None = None
) -> list[SeriesData]:
    """One ``SeriesData`` per NAB CSV file (a folder stands for its CSV files).

    ``metric`` labels every series; by default it comes from the file name
    (:func:`metric_from_name`). The series name is the file stem.
    """
    series = []
    for path in _expand(paths):
        frame = pd.read_csv(path)
        missing = {"timestamp", "value"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        grid = regular_grid(
            to_utc_naive(frame["timestamp"]),
            pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=np.float64),
        )
        series.append(
            SeriesData(
                name=path.stem,
                metric=metric or metric_from_name(path),
                timestamps=grid.index.to_numpy(dtype="datetime64[ns]"),
                values=grid.to_numpy(dtype=np.float64),
            )
        )
    return series


def load_wide_series(path: PathLike) -> list[SeriesData]:
    """Series from a Parquet or CSV file of fleetcast metric events.

    Columns: ``server_id``, ``timestamp`` (ISO 8601 with zone, or a datetime column) and any of
    ``cpu_pct ... error_rate`` (empty for not measured). One ``SeriesData`` per (server, metric)
    named ``<server_id>/<metric>``, on the 5-minute grid from the server's first to its last
    event (mean per step, NaN for gaps); a metric never measured for a server is left out.
    """
    p = Path(path)
    frame = pd.read_parquet(p) if p.suffix in {".parquet", ".pq"} else pd.read_csv(p)
    missing = {"server_id", "timestamp"} - set(frame.columns)
    if missing:
        raise ValueError(f"{p}: missing columns {sorted(missing)}")
    metrics = [m for m in METRICS if m in frame.columns]
    frame = frame.assign(timestamp=to_utc_naive(frame["timestamp"]))
    frame = frame.dropna(subset=["timestamp"])
    series = []
    for server_id, events in frame.groupby("server_id", sort=True):
        table = events.set_index("timestamp")[metrics].apply(pd.to_numeric, errors="coerce")
        grid = table.sort_index().resample(STEP).mean()
        stamps = grid.index.to_numpy(dtype="datetime64[ns]")
        for metric in metrics:
            values = grid[metric].to_numpy(dtype=np.float64)
            if np.isfinite(values).any():
                series.append(SeriesData(f"{server_id}/{metric}", metric, stamps, values))
    return series
