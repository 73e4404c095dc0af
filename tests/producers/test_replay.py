from __future__ import annotations

import csv
import json
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import Settings
from producers.replay import ReplayPlan, load_events, run_replay
from schemas.common import METRICS
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from tests.conftest import SettingsFactory
from tests.helpers import TopicReader

REPO = Path(__file__).resolve().parents[2]
REAL_NAB = REPO.parent / "shared/data/nab/realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv"
WAIT_S = 20.0

# Out of order on purpose (the 14:42 row comes first); one value is not a
# number and one is NaN.
NAB_CSV = (
    "timestamp,value\n"
    "2014-02-14 14:42:00,48.5\n"
    "2014-02-14 14:27:00,51.846\n"
    "2014-02-14 14:32:00,abc\n"
    "2014-02-14 14:37:00,41.25\n"
    "2014-02-14 14:47:00,NaN\n"
)


def at(hh: int, mm: int) -> datetime:
    return datetime(2014, 2, 14, hh, mm, tzinfo=UTC)


@pytest.fixture
def nab_csv(tmp_path: Path) -> Path:
    path = tmp_path / "ec2_cpu.csv"
    path.write_text(NAB_CSV)
    return path


def test_nab_rows_become_events_in_time_order_and_bad_rows_are_rejected(nab_csv: Path) -> None:
    plan = load_events([nab_csv], fmt="nab", metric="cpu_pct", server="ppdb001")

    assert plan.events == (
        MetricEvent(server_id="ppdb001", timestamp=at(14, 27), cpu_pct=51.846),
        MetricEvent(server_id="ppdb001", timestamp=at(14, 37), cpu_pct=41.25),
        MetricEvent(server_id="ppdb001", timestamp=at(14, 42), cpu_pct=48.5),
    )
    assert all(e.timestamp.utcoffset() == timedelta(0) for e in plan.events)
    assert all(e.mem_pct is None and e.error_rate is None for e in plan.events)

    bad_number, nan = plan.rejects
    assert (bad_number.file, bad_number.row, bad_number.line) == (str(nab_csv), 3, 4)
    assert bad_number.raw == b"2014-02-14 14:32:00,abc"
    assert bad_number.reason == "line 4: value: 'abc' is not a number"
    assert (nan.row, nan.line, nan.raw) == (5, 6, b"2014-02-14 14:47:00,NaN")
    assert "NaN" in nan.reason and nan.reason.startswith("line 6:")


def test_nab_values_are_scaled_and_bounds_apply_to_the_scaled_value(tmp_path: Path) -> None:
    path = tmp_path / "net.csv"
    path.write_text("timestamp,value\n"
                    "2014-04-10T00:04:00Z,1000000\n"
                    "2014-04-10 02:09:00+02:00,250000000000\n"
                    "2014-04-10 00:14,-5\n"
                    "10/04/2014 00:19,5\n"
                    "2014-04-10 00:24:00,inf\n")
    plan = load_events([path], fmt="nab", metric="net_in_mbps", server="ppweb001", scale=8e-6)

    assert plan.events == (
        MetricEvent(server_id="ppweb001", timestamp=datetime(2014, 4, 10, 0, 4, tzinfo=UTC),
                    net_in_mbps=8.0),
    )
    reasons = [r.reason for r in plan.rejects]
    assert "outside [0.0, 1000000.0]" in reasons[0] and "x scale 8e-06" in reasons[0]
    assert "net_in_mbps=-" in reasons[1] and "(value -5.0 x scale 8e-06)" in reasons[1]
    assert reasons[2] == "line 5: timestamp: '10/04/2014 00:19' is not an ISO 8601 date-time"
    assert "infinite" in reasons[3]


def test_nab_needs_a_known_metric_and_a_valid_server(nab_csv: Path) -> None:
    with pytest.raises(ValueError, match="unknown metric 'cpu'") as caught:
        load_events([nab_csv], fmt="nab", metric="cpu", server="ppdb001")
    assert all(name in str(caught.value) for name in METRICS)
    with pytest.raises(ValueError, match="unknown metric None"):
        load_events([nab_csv], fmt="nab", server="ppdb001")
    with pytest.raises(ValueError, match="--server"):
        load_events([nab_csv], fmt="nab", metric="cpu_pct")
    with pytest.raises(ValueError, match="invalid server"):
        load_events([nab_csv], fmt="nab", metric="cpu_pct", server="bad id")
    with pytest.raises(ValueError, match="scale"):
        load_events([nab_csv], fmt="nab", metric="cpu_pct", server="a", scale=float("nan"))
    with pytest.raises(ValueError, match="nab format only"):
        load_events([nab_csv], fmt="wide", metric="cpu_pct")


def test_files_that_are_not_the_form_raise_before_anything_is_read(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text("server_id,timestamp,cpu_pct,gpu_pct\n")
    with pytest.raises(ValueError, match=r"unknown column.*gpu_pct"):
        load_events([wide], fmt="wide")
    wide.write_text("server_id,cpu_pct\n")
    with pytest.raises(ValueError, match=r"missing column.*timestamp"):
        load_events([wide], fmt="wide")
    with pytest.raises(ValueError, match=r"missing column.*value"):
        load_events([wide], fmt="nab", metric="cpu_pct", server="a")
    with pytest.raises(ValueError, match=r"unsupported file type '\.json'"):
        load_events([tmp_path / "x.json"], fmt="wide")


WIDE_EVENTS = [
    MetricEvent(server_id="ppml0001", timestamp=datetime(2024, 6, 3, 10, 1, tzinfo=UTC),
                cpu_pct=91.5, mem_pct=40.0, disk_pct=12.25, net_in_mbps=800.0,
                net_out_mbps=120.5, latency_ms=35.0, error_rate=0.001),
    MetricEvent(server_id="ppdb001", timestamp=datetime(2024, 6, 3, 10, 0, tzinfo=UTC),
                cpu_pct=20.0, mem_pct=97.5, latency_ms=4.5),
    MetricEvent(server_id="ppml0001", timestamp=datetime(2024, 6, 3, 10, 2, tzinfo=UTC),
                error_rate=0.0),
]
WIDE_COLUMNS = ["server_id", "timestamp", *METRICS]


def sorted_wide() -> tuple[MetricEvent, ...]:
    return tuple(sorted(WIDE_EVENTS, key=lambda e: e.timestamp))


def test_wide_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "fleet.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(WIDE_COLUMNS)
        for event in WIDE_EVENTS:
            writer.writerow([event.server_id, event.timestamp.isoformat(),
                             *("" if v is None else v for v in event.values().values())])
    plan = load_events([path], fmt="wide")
    assert plan.events == sorted_wide()
    assert plan.rejects == ()


def test_wide_parquet_round_trip(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "fleet.parquet"
    columns = {name: [getattr(e, name) for e in WIDE_EVENTS] for name in WIDE_COLUMNS}
    pq.write_table(pa.table(columns), path)
    plan = load_events([path], fmt="wide")
    assert plan.events == sorted_wide()
    assert plan.rejects == ()


def test_wide_rows_with_bad_values_are_rejected_with_their_text(tmp_path: Path) -> None:
    path = tmp_path / "fleet.csv"
    path.write_text(
        "server_id,timestamp,cpu_pct,error_rate\n"
        "ppdb001,2024-06-03T10:00:00+00:00,50,0.5\n"
        "\n"  # a blank line is not a row
        "ppdb001,2024-06-03T10:01:00+00:00,150,\n"
        "ppdb001,2024-06-03T10:02:00+00:00,,\n"
        "bad id!,2024-06-03T10:03:00+00:00,1,\n"
        "ppdb001,2024-06-03T10:04:00+00:00,1\n"
        "ppdb001,,1,0\r\n"
    )
    plan = load_events([path], fmt="wide")
    assert [e.timestamp.minute for e in plan.events] == [0]
    assert [(r.row, r.line) for r in plan.rejects] == [(2, 4), (3, 5), (4, 6), (5, 7), (6, 8)]
    reasons = [r.reason for r in plan.rejects]
    assert "cpu_pct=150.0 outside [0.0, 100.0]" in reasons[0]
    assert "no metric values" in reasons[1]
    assert reasons[2].startswith("line 6: server_id:")
    assert reasons[3] == "line 7: 3 field(s), expected 4 (server_id,timestamp,cpu_pct,error_rate)"
    assert reasons[4] == "line 8: timestamp: empty (no value)"
    assert plan.rejects[4].raw == b"ppdb001,,1,0"


def test_files_are_merged_in_event_time_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("timestamp,value\n2024-01-01 00:00,1\n2024-01-01 00:10,3\n")
    second.write_text("timestamp,value\n2024-01-01 00:05,2\n")
    plan = load_events([first, second], fmt="nab", metric="mem_pct", server="ppsrv001")
    assert [e.mem_pct for e in plan.events] == [1.0, 2.0, 3.0]


@pytest.mark.skipif(not REAL_NAB.exists(), reason=f"{REAL_NAB} not present")
def test_a_real_nab_file_loads_every_valid_row() -> None:
    with REAL_NAB.open() as handle:
        rows = sum(1 for line in handle if line.strip()) - 1  # minus the header
    plan = load_events([REAL_NAB], fmt="nab", metric="cpu_pct", server="i-5f5533")
    assert len(plan.events) == rows - len(plan.rejects)
    assert len(plan.events) > 4_000
    stamps = [e.timestamp for e in plan.events]
    assert stamps == sorted(stamps)
    assert stamps[0] == datetime(2014, 2, 14, 14, 27, tzinfo=UTC)


# --- on the broker ---------------------------------------------------------------------------

ReadTopic = Callable[[Settings, str], TopicReader]


@pytest.mark.broker
def test_replay_publishes_the_events_keyed_by_server_and_dead_letters_the_rejects(
    nab_csv: Path, make_settings: SettingsFactory, read_topic: ReadTopic
) -> None:
    settings = make_settings()
    plan = load_events([nab_csv], fmt="nab", metric="cpu_pct", server="ppdb001")
    handler = signal.getsignal(signal.SIGINT)

    stats = run_replay(settings, plan, speed=None)

    assert signal.getsignal(signal.SIGINT) is handler  # Ctrl-C works as before afterwards
    assert (stats.events, stats.produced, stats.dead_lettered) == (3, 3, 2)
    assert (stats.failed, stats.unsent, stats.skipped, stats.stopped) == (0, 0, 0, False)

    metrics = read_topic(settings, settings.topic_metrics)
    seen = metrics.wait_for(lambda messages: len(messages) >= 3, WAIT_S)
    metrics.poll(1.0)  # and nothing more
    assert len(seen) == 3
    assert {m.key() for m in seen} == {b"ppdb001"}
    got = [MetricEvent.model_validate_json(m.value() or b"") for m in seen]
    # One key, so one partition: the order is kept.
    assert tuple(got) == plan.events

    dead = read_topic(settings, settings.topic_deadletter)
    letters_seen = dead.wait_for(lambda messages: len(messages) >= 2, WAIT_S)
    dead.poll(1.0)
    assert len(letters_seen) == 2
    letters = [DeadLetter.model_validate_json(m.value() or b"") for m in letters_seen]
    assert {(d.stage, d.source_topic) for d in letters} == {("replay", str(nab_csv))}
    assert sorted(d.payload() for d in letters) == [
        b"2014-02-14 14:32:00,abc", b"2014-02-14 14:47:00,NaN",
    ]
    assert {d.reason for d in letters} == {r.reason for r in plan.rejects}


def three_events_a_minute_apart() -> ReplayPlan:
    start = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
    events = tuple(
        MetricEvent(server_id="ppweb001", timestamp=start + timedelta(minutes=i), cpu_pct=10.0)
        for i in range(3)
    )
    return ReplayPlan(events=events, rejects=(), files=("memory",))


@pytest.mark.broker
def test_speed_paces_events_by_event_time(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    began = time.monotonic()
    # 120 s of event time at 600x: 0.2 s.
    stats = run_replay(settings, three_events_a_minute_apart(), speed=600)
    assert stats.produced == 3
    assert 0.15 <= stats.elapsed_s <= time.monotonic() - began
    assert stats.elapsed_s < 5


@pytest.mark.broker
def test_stop_ends_a_paced_replay_between_events(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    try:
        # At 1x the second event would be due a minute after the first.
        stats = run_replay(settings, three_events_a_minute_apart(), speed=1, stop=stop)
    finally:
        timer.cancel()
    assert (stats.produced, stats.skipped, stats.stopped) == (1, 2, True)
    assert stats.elapsed_s < 10


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        run_replay(Settings(), three_events_a_minute_apart(), speed=0)


def test_parquet_rejects_carry_the_row_as_json(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "nab.parquet"
    pq.write_table(pa.table({"timestamp": ["2014-02-14 14:27:00", "2014-02-14 14:32:00"],
                             "value": [float("nan"), 3.0]}), path)
    plan = load_events([path], fmt="nab", metric="cpu_pct", server="a1")
    assert [e.cpu_pct for e in plan.events] == [3.0]
    (reject,) = plan.rejects
    assert (reject.row, reject.line) == (1, None)
    assert reject.reason == "row 1: value: NaN is not a measurement"
    assert json.loads(reject.raw.replace(b"NaN", b"null")) == {
        "timestamp": "2014-02-14 14:27:00", "value": None,
    }


def test_a_wide_frame_becomes_a_plan_with_bounds_clipped_and_empty_rows_skipped():
    import numpy as np
    import pandas as pd

    from producers.replay import plan_from_wide

    stamps = pd.date_range("2013-08-01 00:00", periods=3, freq="5min", tz="UTC")
    wide = pd.DataFrame({
        "server_id": ["bbvm7"] * 3,
        "timestamp": stamps[::-1],  # out of order: the plan is in time order
        "cpu_pct": [154.6, np.nan, 40.0],  # Bitbrains CPU can overrun its capacity
        "mem_pct": [50.0, np.nan, np.nan],
        "disk_pct": [np.nan] * 3,
    })
    plan = plan_from_wide(wide, source="slice")
    assert [e.timestamp for e in plan.events] == [stamps[0], stamps[2]]
    assert (plan.events[0].cpu_pct, plan.events[0].mem_pct) == (40.0, None)
    assert (plan.events[1].cpu_pct, plan.events[1].mem_pct) == (100.0, 50.0)
    assert plan.events[1].disk_pct is None
    assert plan.clipped == 1 and plan.rejects == () and plan.files == ("slice",)
