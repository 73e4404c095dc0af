"""The Bitbrains "Rnd" trace as fleetcast's wide frame.

The upstream files are long (one row per VM and sample, samples about every
300 s but not on the clock). Forecasts, alerts and incident counting all work
on clock-aligned 5-minute steps, so a sample is put into the step that holds
it (``floor(timestamp / 5 min)``), several samples in one step are averaged,
and every VM gets a row for every step between its first and last sample.

Gap policy: a gap of at most ``FILL_LIMIT`` (3) steps, i.e. up to 15 minutes
of missing readings, is filled with the value before it: this is the scrape
jitter of the trace, not a real outage. A longer gap stays NaN over its whole
length. This differs on purpose from ``ffill(limit=3)``, which would fill the
first 3 steps of a long gap too: carrying an old reading 15 minutes into a
day-long outage would invent data (and could invent a 3-step incident).
Gaps are judged per metric, so a VM whose memory capacity reads 0 for an hour
has NaN memory there and real CPU.

Units follow ``data/README.md``: ``cpu_pct`` is kept as recorded, so it can
exceed 100 (up to 154.6 in the trace; Bitbrains measures against provisioned
capacity, which a VM can overrun). It is not clipped, because the incident
definition (``>= 95``) must see it as recorded. ``mem_pct = 100 * mem_kb /
mem_cap_kb`` (a capacity of 0 is no reading: NaN; a few dozen steps read
above 100, some absurdly, where the recorded usage exceeds the recorded
capacity: kept as recorded too), the network is KB/s turned
into Mbit/s (``* 8 / 1000``), and the metrics the trace does not have
(``disk_pct``, ``latency_ms``, ``error_rate``) are NaN, never invented.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.common import METRICS

STEP_MS = 300_000
FILL_LIMIT = 3
SERVER_PREFIX = "bbvm"

#: The upstream columns the wide frame is made from; others are never read.
REQUIRED_COLUMNS = (
    "vm",
    "timestamp",
    "cpu_pct",
    "mem_kb",
    "mem_cap_kb",
    "net_in_kbs",
    "net_out_kbs",
)
_FROM_TRACE = ("cpu_pct", "mem_pct", "net_in_mbps", "net_out_mbps")

PathLike = str | Path
TimeLike = str | datetime  # pd.Timestamp is a datetime


def server_id(vm: int) -> str:
    """The fleetcast server id of a Bitbrains VM: ``bbvm17`` for VM 17."""
    return f"{SERVER_PREFIX}{int(vm)}"


def load_bitbrains(
    paths: PathLike | Iterable[PathLike],
    *,
    vms: Iterable[int | str] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> pd.DataFrame:
    """Read Bitbrains parquet files into the wide frame on the 5-minute grid.

    ``paths``: one file or several (e.g. July and August; a VM's rows from all
    of them are merged, and the gap between files stays NaN). ``vms``: VM ids
    (ints, or ``bbvm<n>`` ids) to keep; the filter is pushed into the parquet
    reader. ``start`` (inclusive) and ``end`` (exclusive) bound the sample
    timestamps; naive times are UTC. Returns columns ``server_id``,
    ``timestamp`` (tz-aware UTC step start) and the metrics in
    ``schemas.common.METRICS`` order, sorted by VM id then time.
    """
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise ValueError("no parquet files given")
    wanted = None if vms is None else sorted({_vm_id(v) for v in vms})
    filters = _filter(wanted, _utc_ms(start), _utc_ms(end))
    tables = [_read(path, filters) for path in files]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return _to_wide(table)


def _vm_id(value: int | str) -> int:
    if isinstance(value, str):
        text = value.removeprefix(SERVER_PREFIX)
        if not text.isdigit():
            raise ValueError(f"not a Bitbrains VM id: {value!r}")
        return int(text)
    return int(value)


def _utc_ms(value: TimeLike | None) -> int | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.value // 1_000_000)


def _filter(vms: Sequence[int] | None, start: int | None, end: int | None) -> pc.Expression | None:
    parts = []
    if vms is not None:
        parts.append(pc.field("vm").isin(pa.array(vms, pa.int16())))
    stamp = pc.field("timestamp")
    if start is not None:
        parts.append(stamp >= pa.scalar(start, pa.timestamp("ms", "UTC")))
    if end is not None:
        parts.append(stamp < pa.scalar(end, pa.timestamp("ms", "UTC")))
    if not parts:
        return None
    expr = parts[0]
    for part in parts[1:]:
        expr = expr & part
    return expr


def _read(path: Path, filters: pc.Expression | None) -> pa.Table:
    if not path.is_file():
        raise FileNotFoundError(f"Bitbrains parquet file not found: {path}")
    names = set(pq.read_schema(path).names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path} lacks the required column(s): {', '.join(missing)}")
    table = pq.read_table(path, columns=list(REQUIRED_COLUMNS), filters=filters)
    # One timestamp type whatever the file wrote (timestamp[ms|us|ns] or int ms).
    stamps = table.column("timestamp")
    if pa.types.is_timestamp(stamps.type):
        stamps = stamps.cast(pa.timestamp("ms", "UTC")).cast(pa.int64())
    else:
        stamps = stamps.cast(pa.int64())
    return pa.table(
        {
            "vm": table.column("vm").cast(pa.int32()),
            "timestamp": stamps,
            **{c: table.column(c).cast(pa.float64()) for c in REQUIRED_COLUMNS[2:]},
        }
    )


def _to_wide(table: pa.Table) -> pd.DataFrame:
    if table.num_rows == 0:  # e.g. a VM filter that matches nothing
        empty = {c: np.array([], dtype=np.float64) for c in METRICS}
        stamps = pd.DatetimeIndex([], dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"server_id": np.array([], dtype=object), "timestamp": stamps, **empty})
    vm = table.column("vm").to_numpy()
    step = table.column("timestamp").to_numpy() // STEP_MS
    cap = table.column("mem_cap_kb").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        mem_pct = np.where(cap > 0, 100.0 * table.column("mem_kb").to_numpy() / cap, np.nan)
    samples = pd.DataFrame(
        {
            "vm": vm,
            "step": step,
            "cpu_pct": table.column("cpu_pct").to_numpy(),
            "mem_pct": mem_pct,
            "net_in_mbps": table.column("net_in_kbs").to_numpy() * 8 / 1000,
            "net_out_mbps": table.column("net_out_kbs").to_numpy() * 8 / 1000,
        }
    )
    # Mean of the readings in each step (NaN readings do not count).
    steps = samples.groupby(["vm", "step"], sort=True).mean()
    step_vm = steps.index.get_level_values("vm").to_numpy()
    step_no = steps.index.get_level_values("step").to_numpy()

    # The full grid: every step from each VM's first to its last sample.
    vm_ids, first_at = np.unique(step_vm, return_index=True)
    last_at = np.r_[first_at[1:], len(step_vm)] - 1
    first, last = step_no[first_at], step_no[last_at]
    lengths = last - first + 1
    row_start = np.r_[0, np.cumsum(lengths)[:-1]]
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(vm_ids)), lengths)
    grid_step = first[owner] + (np.arange(total) - row_start[owner])
    of_vm = np.searchsorted(vm_ids, step_vm)
    where = row_start[of_vm] + (step_no - first[of_vm])

    wide: dict[str, np.ndarray] = {}
    for metric in METRICS:
        column = np.full(total, np.nan)
        if metric in _FROM_TRACE:
            column[where] = steps[metric].to_numpy()
            column = fill_short_gaps(column, row_start[owner])
        wide[metric] = column
    return pd.DataFrame(
        {
            "server_id": np.array([server_id(v) for v in vm_ids], dtype=object)[owner],
            "timestamp": pd.to_datetime(grid_step * STEP_MS, unit="ms", utc=True).as_unit("ns"),
            **wide,
        }
    )


def fill_short_gaps(
    values: np.ndarray, segment_start: np.ndarray, limit: int = FILL_LIMIT
) -> np.ndarray:
    """Carry the last value over NaN runs of at most ``limit`` steps.

    ``segment_start[i]`` is the index of the first row of row ``i``'s series
    (several series may be stacked in one array); nothing is carried across
    series. A longer run stays NaN over its whole length, and so does a run at
    the start of a series (nothing to carry).
    """
    n = len(values)
    idx = np.arange(n)
    valid = ~np.isnan(values)
    last_valid = np.maximum.accumulate(np.where(valid, idx, -1))
    # The next valid row at or after each row (n when none), to measure the run.
    next_valid = np.minimum.accumulate(np.where(valid, idx, n)[::-1])[::-1]
    segment_end = np.r_[segment_start[1:] != segment_start[:-1], True]
    # The last row of each row's series: the next row where the series ends.
    end_of_series = np.minimum.accumulate(np.where(segment_end, idx, n)[::-1])[::-1]
    run_end = np.minimum(next_valid, end_of_series + 1)  # exclusive end of the NaN run
    run_length = run_end - (last_valid + 1)
    fill = (~valid) & (last_valid >= segment_start) & (run_length <= limit)
    out = values.copy()
    out[fill] = values[last_valid[fill]]
    return out
