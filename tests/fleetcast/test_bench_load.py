"""``fleetcast bench load``: the summary arithmetic, and a tiny run on the real stack."""

from __future__ import annotations

import json

import pytest

from core.settings import Settings
from fleetcast.bench.latency import WARMING_UP, Stamps
from fleetcast.bench.load import LoadSample, step_figures, summarise
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


def test_steps_drain_when_every_window_is_answered_within_the_interval():
    closed = {"a@s1": 0.0, "b@s1": 1.0, "a@s2": 300.0, "b@s2": 301.0, "a@s3": 600.0}
    forecast_at = {"a@s1": 50.0, "b@s1": 120.0, "a@s2": 330.0, "b@s2": 640.0, "a@s3": 601.0}
    model_of = dict.fromkeys(forecast_at, "tft-bb-1") | {"a@s3": WARMING_UP}
    stamps = Stamps(closed, forecast_at, model_of, read_until=700.0)
    steps, drained = step_figures(stamps, step_interval_s=300.0)
    assert [(s.end, s.windows, s.forecasts, s.computed, s.max_s) for s in steps] == [
        ("s1", 2, 2, 2, 119.0), ("s2", 2, 2, 2, 339.0), ("s3", 1, 1, 0, 1.0)]
    assert drained is False, "s2's last forecast came after the next step closed"
    first_only = stamps.within(0.0, 300.0)
    assert step_figures(first_only, 300.0)[1] is True
    assert step_figures(Stamps(read_until=0.0), 300.0) == ([], None)


@pytest.mark.broker
@pytest.mark.slow
def test_bench_load_runs_a_small_fleet_with_the_model_and_two_workers(tiny_tft, capsys):
    assert main(["bench", "load", "--servers", "20", "--speed", "60", "--minutes", "0.4",
                 "--every", "4", "--warm-up", "0", "--infer-workers", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    summary = lines[-1]["summary"]
    assert summary["servers"] == 20 and summary["dead_letters"] == 0
    assert summary["events_per_s"] > 0, "the simulator's events reached the broker"
    assert set(summary["rss_mb_end"]) == {"process", "infer", "produce"}
    assert summary["infer_workers"] == 2
    forecasts = summary["latency"]["forecasts"]
    assert forecasts > 0 and summary["computed"] == {tiny_tft: forecasts}
    assert sum(step["computed"] for step in summary["steps"]) == forecasts
    assert len(lines) >= 4, "a sample every 4 s over 24 s"
