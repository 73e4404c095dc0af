"""``fleetcast bench ui``'s own arithmetic: py-spy's top frames and the UI's figures from its
/metrics (the run itself needs Chromium and minutes: BENCHMARKS.md has its figures)."""

from __future__ import annotations

import json

import pytest

from fleetcast.bench.ui import BenchResult, bucket_quantile, top_frames
from fleetcast.cli import main

COLLAPSED = [
    "main (cli.py:5);tick (dashboard.py:10);draw (dashboard.py:20) 6",
    "main (cli.py:5);tick (dashboard.py:11);encode (bokeh.py:3) 3",
    "main (cli.py:5);poll (feed.py:7) 1",
    "garbage without a count",
]


def test_top_frames_merge_lines_of_a_function_and_share_the_samples() -> None:
    top = top_frames(COLLAPSED, limit=2)

    assert top["self"] == [("draw (dashboard.py)", 0.6), ("encode (bokeh.py)", 0.3)]
    assert top["inclusive"] == [("main (cli.py)", 1.0), ("tick (dashboard.py)", 0.9)]
    assert top_frames([]) == {"self": [], "inclusive": []}


LAG = "fleetcast_ui_draw_lag_seconds"


def test_the_ui_figures_come_from_the_metrics_change_over_the_run() -> None:
    metrics = {f"{LAG}_bucket{{le=0.1}}": 50.0, f"{LAG}_bucket{{le=0.5}}": 96.0,
               f"{LAG}_bucket{{le=+Inf}}": 100.0, f"{LAG}_count": 100.0, f"{LAG}_sum": 12.0,
               "fleetcast_ui_tick_seconds_count": 200.0, "fleetcast_ui_tick_seconds_sum": 1.0}
    result = BenchResult(sessions=10, servers=1, flips=1, latencies_ms=[900.0, 1100.0],
                         missed=0, rss_peak_mb=1, rss_end_mb=1, forecasts_per_s=1,
                         elapsed_s=10.0, ui_cpu_s=5.0, ui_metrics=metrics)

    figures = result.summary()

    assert bucket_quantile(metrics, LAG, 0.5) == 0.1
    assert (figures["ui_cpu_per_s"], figures["ticks_per_session_s"]) == (0.5, 2.0)
    assert (figures["tick_ms_mean"], figures["draw_lag_ms_mean"]) == (5.0, 120.0)
    assert figures["draw_lag_ms_p95_at_most"] == 500
    assert figures["within_1s"] == 0.5
    assert bucket_quantile({}, LAG, 0.95) is None


def test_the_in_process_bench_prints_the_servers_share_of_a_tick(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "ui", "--in-process", "--sessions", "2", "--servers", "30",
                 "--flips", "2", "--every", "0.6"]) == 0

    figures = json.loads(capsys.readouterr().out)
    assert (figures["sessions"], figures["ticks"]) == (2, 4)
    assert figures["cpu_ms_per_tick"] > 0 and figures["kb_sent_per_session_tick"] > 0
