from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from modelling.nab import (
    load_nab_series,
    load_wide_series,
    metric_from_name,
    nab_aws_files,
    nab_dir,
)

REPO = Path(__file__).resolve().parents[2]
NAB = nab_dir(REPO.parent / "shared" / "data")
FIVE_MINUTES = np.timedelta64(5, "m")


def test_the_nab_folder_comes_from_the_data_folder_setting() -> None:
    assert nab_dir(Settings().data_dir) == Path("../shared/data/nab")
    assert nab_dir("/elsewhere") == Path("/elsewhere/nab")


@pytest.mark.parametrize(
    ("file", "metric"),
    [
        ("ec2_cpu_utilization_24ae8d.csv", "cpu_pct"),
        ("rds_cpu_utilization_cc0c53.csv", "cpu_pct"),
        ("ec2_disk_write_bytes_1ef3de.csv", "disk_write_bytes"),
        ("ec2_network_in_257a54.csv", "net_in"),
        ("iio_us-east-1_i-a2eb1cd9_NetworkIn.csv", "net_in"),
        ("elb_request_count_8c0756.csv", "request_count"),
        ("grok_asg_anomaly.csv", "grok_asg_anomaly"),
        ("some_new_metric_abcdef12.csv", "some_new_metric"),
    ],
)
def test_metric_from_file_name(file: str, metric: str) -> None:
    assert metric_from_name(file) == metric


def test_crafted_csv_with_gap_duplicate_and_odd_minutes(tmp_path: Path) -> None:
    path = tmp_path / "ec2_cpu_utilization_test01.csv"
    path.write_text(
        "timestamp,value\n"
        "2014-02-14 14:27:00,1.0\n"
        "2014-02-14 14:32:00,2.0\n"
        "2014-02-14 14:37:00,3.0\n"
        "2014-02-14 14:52:00,6.0\n"  # 14:40 and 14:45 missing
        "2014-02-14 14:52:00,8.0\n"  # duplicate: averaged
        "2014-02-14 14:47:00,5.0\n"  # out of order
    )
    (s,) = load_nab_series(path)
    assert s.name == "ec2_cpu_utilization_test01" and s.metric == "cpu_pct"
    expected_stamps = np.datetime64("2014-02-14T14:25") + np.arange(6) * FIVE_MINUTES
    np.testing.assert_array_equal(s.timestamps, expected_stamps.astype("datetime64[ns]"))
    np.testing.assert_array_equal(s.values, [1.0, 2.0, 3.0, np.nan, 5.0, 7.0])
    (relabelled,) = load_nab_series([path], metric="cpu")
    assert relabelled.metric == "cpu"


def test_a_folder_stands_for_its_csv_files_and_bad_files_are_refused(tmp_path: Path) -> None:
    for name in ("b_request_count_1.csv", "a_network_in_2.csv"):
        (tmp_path / name).write_text("timestamp,value\n2020-01-01 00:00:00,1\n")
    assert [s.name for s in load_nab_series(tmp_path)] == ["a_network_in_2", "b_request_count_1"]
    bad = tmp_path / "sub" / "bad.csv"
    bad.parent.mkdir()
    bad.write_text("time,v\n2020-01-01 00:00:00,1\n")
    with pytest.raises(ValueError, match="missing columns"):
        load_nab_series(bad)


@pytest.mark.skipif(
    not nab_aws_files(NAB), reason=f"NAB data not found under {NAB}/realAWSCloudwatch"
)
def test_the_real_nab_aws_files_load_on_a_regular_grid() -> None:
    files = nab_aws_files(NAB)
    series = load_nab_series(files)
    assert len(series) == len(files) >= 10
    metrics = {s.metric for s in series}
    assert {"cpu_pct", "net_in", "disk_write_bytes", "request_count"} <= metrics
    for s in series:
        assert len(s) >= 1000
        assert (np.diff(s.timestamps) == FIVE_MINUTES).all()
        assert (s.timestamps.astype("datetime64[m]").astype(int) % 5 == 0).all()
        assert np.isfinite(s.values).mean() > 0.99


def test_wide_metric_events_become_one_series_per_server_and_metric(tmp_path: Path) -> None:
    rows = []
    for minute in range(15):
        rows.append(
            {
                "server_id": "ppdb001",
                "timestamp": f"2024-05-01T10:{minute:02d}:00+02:00",
                "cpu_pct": float(minute),
                "mem_pct": 90.0,
                "error_rate": None,
            }
        )
    rows.append({"server_id": "ppweb001", "timestamp": "2024-05-01T08:00:30Z", "cpu_pct": 5.0})
    rows.append({"server_id": "ppweb001", "timestamp": "2024-05-01T08:12:00Z", "cpu_pct": 7.0})
    frame = pd.DataFrame(rows)
    frame = frame[frame.index != 5]  # ppdb001's minute 5 missing
    csv = tmp_path / "events.csv"
    frame.to_csv(csv, index=False)
    parquet = tmp_path / "events.parquet"
    frame.to_parquet(parquet)

    for path in (csv, parquet):
        series = {s.name: s for s in load_wide_series(path)}
        assert sorted(series) == ["ppdb001/cpu_pct", "ppdb001/mem_pct", "ppweb001/cpu_pct"]
        cpu = series["ppdb001/cpu_pct"]
        assert cpu.metric == "cpu_pct"
        assert cpu.timestamps[0] == np.datetime64("2024-05-01T08:00")  # UTC
        np.testing.assert_allclose(cpu.values, [2.0, 7.5, 12.0])  # mean of minutes 6-9
        np.testing.assert_array_equal(series["ppdb001/mem_pct"].values, [90.0] * 3)
        web = series["ppweb001/cpu_pct"]
        np.testing.assert_array_equal(web.values, [5.0, np.nan, 7.0])
