"""Loading Bitbrains-shaped parquet files into the wide 5-minute frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelling.bitbrains import fill_short_gaps, load_bitbrains
from schemas.common import METRICS

T0 = pd.Timestamp("2013-08-01 00:00", tz="UTC")
REAL = Path("/work/shared/data/bitbrains/rnd-2013-08.parquet")


def write(
    path: Path, rows: Sequence[tuple[int, float, float]], *, int_ms: bool = False, drop=()
) -> Path:
    """Rows of (vm, seconds after T0, cpu_pct); memory 50 % of 1000 KB, 800 KB/s in."""
    ms = [int(T0.value // 10**6 + s * 1000) for _, s, _ in rows]
    columns = {
        "vm": pa.array([r[0] for r in rows], pa.int16()),
        "cores": pa.array([4.0] * len(rows), pa.float32()),
        "cpu_pct": pa.array([r[2] for r in rows], pa.float32()),
        "mem_cap_kb": pa.array([1000.0] * len(rows), pa.float32()),
        "mem_kb": pa.array([500.0] * len(rows), pa.float32()),
        "net_in_kbs": pa.array([800.0] * len(rows), pa.float32()),
        "net_out_kbs": pa.array([100.0] * len(rows), pa.float32()),
        "timestamp": pa.array(ms, pa.int64() if int_ms else pa.timestamp("ms", "UTC")),
    }
    pq.write_table(pa.table({k: v for k, v in columns.items() if k not in drop}), path)
    return path


def test_samples_go_on_the_clock_grid_and_are_averaged(tmp_path: Path) -> None:
    # Two samples in the first step (00:00:10, 00:04:50), one at 00:05:00 and one at 00:12:59.
    path = write(
        tmp_path / "a.parquet", [(3, 10, 10.0), (3, 290, 20.0), (3, 300, 150.0), (3, 779, 1.0)]
    )
    wide = load_bitbrains(path)
    assert list(wide.columns) == ["server_id", "timestamp", *METRICS]
    assert wide["server_id"].tolist() == ["bbvm3"] * 3
    assert wide["timestamp"].tolist() == [T0 + pd.Timedelta(minutes=m) for m in (0, 5, 10)]
    assert wide["cpu_pct"].tolist() == pytest.approx([15.0, 150.0, 1.0])  # > 100 kept
    assert wide["mem_pct"].tolist() == pytest.approx([50.0] * 3)
    assert wide["net_in_mbps"].tolist() == pytest.approx([6.4] * 3)
    assert wide["net_out_mbps"].tolist() == pytest.approx([0.8] * 3)
    assert wide[["disk_pct", "latency_ms", "error_rate"]].isna().all().all()
    assert str(wide["timestamp"].dt.tz) == "UTC"


def test_short_gaps_are_carried_long_ones_stay_nan(tmp_path: Path) -> None:
    # Steps 0, 4 (gap of 3: filled), 9 (gap of 4: stays NaN), 10.
    rows = [(1, s * 300 + 30, float(s)) for s in (0, 4, 9, 10)]
    wide = load_bitbrains(write(tmp_path / "g.parquet", rows))
    cpu = wide["cpu_pct"].to_numpy()
    assert len(cpu) == 11
    assert cpu[:5].tolist() == [0.0, 0.0, 0.0, 0.0, 4.0]
    assert np.isnan(cpu[5:9]).all()
    assert cpu[9:].tolist() == [9.0, 10.0]


def test_fill_short_gaps_never_crosses_series() -> None:
    values = np.array([1.0, np.nan, 2.0, np.nan, np.nan])
    segment = np.array([0, 0, 2, 2, 2])
    # Series 2 starts at index 2; its trailing 2-step gap is filled from its own value.
    assert fill_short_gaps(values, segment).tolist() == [1.0, 1.0, 2.0, 2.0, 2.0]
    starts_nan = fill_short_gaps(np.array([1.0, np.nan, 3.0]), np.array([0, 1, 1]))
    assert np.isnan(starts_nan[1])


def test_zero_memory_capacity_is_no_reading(tmp_path: Path) -> None:
    path = tmp_path / "m.parquet"
    write(path, [(1, 0, 5.0)])
    table = pq.read_table(path)
    table = table.set_column(
        table.schema.get_field_index("mem_cap_kb"), "mem_cap_kb", pa.array([0.0], pa.float32())
    )
    pq.write_table(table, path)
    assert np.isnan(load_bitbrains(path)["mem_pct"].iloc[0])


def test_filters_and_several_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.parquet", [(1, 0, 1.0), (2, 0, 2.0), (2, 300, 3.0)])
    b = write(tmp_path / "b.parquet", [(2, 3000, 4.0), (7, 0, 7.0)], int_ms=True)
    both = load_bitbrains([a, b])
    assert sorted(both["server_id"].unique()) == ["bbvm1", "bbvm2", "bbvm7"]
    vm2 = both[both["server_id"] == "bbvm2"]
    assert len(vm2) == 11  # steps 0..10 over both files
    assert load_bitbrains([a, b], vms=[7])["server_id"].unique().tolist() == ["bbvm7"]
    assert load_bitbrains(a, vms=["bbvm2"])["cpu_pct"].tolist() == [2.0, 3.0]
    late = load_bitbrains(a, start=T0 + pd.Timedelta(minutes=5))
    assert late["cpu_pct"].tolist() == [3.0]
    nobody = load_bitbrains(a, vms=[99])
    assert nobody.empty
    assert list(nobody.columns) == ["server_id", "timestamp", *METRICS]
    early = load_bitbrains(a, end="2013-08-01 00:05")  # naive: UTC; end exclusive
    assert early["cpu_pct"].tolist() == [1.0, 2.0]


def test_missing_columns_and_missing_files(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.parquet", [(1, 0, 1.0)], drop=("mem_kb", "net_out_kbs"))
    with pytest.raises(ValueError, match="mem_kb, net_out_kbs"):
        load_bitbrains(bad)
    with pytest.raises(FileNotFoundError, match=r"nowhere\.parquet"):
        load_bitbrains(tmp_path / "nowhere.parquet")


@pytest.mark.skipif(not REAL.exists(), reason="the Bitbrains data is not here")
def test_one_real_vm() -> None:
    wide = load_bitbrains(REAL, vms=[17])
    assert wide["server_id"].unique().tolist() == ["bbvm17"]
    assert (wide["timestamp"].astype("int64") % (300 * 10**9) == 0).all()
    assert wide["timestamp"].is_monotonic_increasing
    assert len(wide) > 8000  # a month of 5-minute steps
