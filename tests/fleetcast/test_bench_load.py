"""``fleetcast bench load``: the summary arithmetic, and a tiny run on the real stack."""

from __future__ import annotations

import json

import pytest

from core.settings import Settings
from fleetcast.bench.load import LoadSample, summarise
from fleetcast.cli import main


def sample(t: float, metrics: int, process_lag: int | None, rss: float) -> LoadSample:
    return LoadSample(elapsed_s=t, topics={"metrics": metrics, "windows": metrics // 10,
                                           "forecasts": 0, "deadletter": 0},
                      process_lag=process_lag, infer_lag=0, rss_mb={"process": rss},
                      cpu_s={"process": t / 10, "produce": t / 40})


def test_summary_rates_lag_quarters_memory_and_cpu_shares():
    samples = [sample(t, 100 * int(t), lag, 100.0 + t / 100)
               for t, lag in [(10, 999), (20, 40), (30, 60), (40, 50), (50, 70), (60, 80)]]
    summary = summarise(Settings(servers=50, speed=2.0), 1, samples, warm_up_s=15)
    assert summary.events_per_s == pytest.approx(100.0)
    assert summary.windows_per_s == pytest.approx(10.0)
    assert summary.process_lag_first_quarter == 40.0, "the warm-up sample is left out"
    assert summary.process_lag_last_quarter == 80.0
    assert summary.process_lag_max == 80
    assert summary.rss_mb_start == {"process": 100.2} and summary.rss_mb_end == {"process": 100.6}
    assert summary.cpu_share == {"process": 0.8, "produce": 0.2}


@pytest.mark.broker
@pytest.mark.slow
def test_bench_load_runs_a_small_fleet_and_prints_a_summary(capsys):
    assert main(["bench", "load", "--servers", "20", "--speed", "60", "--minutes", "0.4",
                 "--every", "4", "--warm-up", "0", "--forecaster", "baseline"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    summary = lines[-1]["summary"]
    assert summary["servers"] == 20 and summary["dead_letters"] == 0
    assert summary["events_per_s"] > 0, "the simulator's events reached the broker"
    assert set(summary["rss_mb_end"]) == {"process", "infer", "produce"}
    assert len(lines) >= 4, "a sample every 4 s over 24 s"
