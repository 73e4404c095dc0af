"""``fleetcast bench``: the commands run on tiny sizes and print figures of the promised shape.

No timing is asserted: the figures depend on the machine and its load.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch

from fleetcast.bench.command import model_ran
from fleetcast.bench.latency import (
    WARMING_UP,
    Stamps,
    forecast_id,
    forecast_model,
    latency_figures,
    window_id,
)
from fleetcast.cli import main
from schemas.forecast import Forecast
from tests.inference_worker.factories import make_window

INFERENCE_KEYS = {"device", "servers", "predict_windows_per_s", "worker_windows_per_s",
                  "speedup"}


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()
            if line.startswith("{")]


def test_bench_inference_prints_one_object_per_fleet_size(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(trained_model_dir / "latest")
    assert main(["bench", "inference", "--servers", "20,30", "--batch", "16",
                 "--predict-limit", "20", "--model", model, "--json", "--old-path"]) == 0
    results = json_lines(capsys)
    assert [r["servers"] for r in results] == [20, 30]
    for r in results:
        assert set(r) >= INFERENCE_KEYS
        assert r["device"] == "cpu"
        assert r["predict_windows_per_s"] > 0 and r["worker_windows_per_s"] > 0
        assert r["speedup"] > 0
        assert r["old_worker_windows_per_s"] > 0 and r["speedup_vs_old"] > 0
        assert r["compile"] is False
    assert results[1]["predict_timed_servers"] == 20  # the library path is sampled


def test_bench_inference_profiles_one_batch_of_each_path(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "inference", "--profile", "--old-path", "--batch", "4",
                 "--model", str(trained_model_dir / "latest")]) == 0
    out = capsys.readouterr().out
    assert "worker path, one batch of 4 windows" in out and "old path" in out
    assert "scaled_dot_product" in out  # the worker runs the fused attention
    assert out.count("Self CPU time total") == 2


def test_bench_bf16_reports_the_change_against_fp32(
    trained_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "bf16", "--servers", "6", "--model",
                 str(trained_model_dir / "latest"), "--json"]) == 0
    (result,) = json_lines(capsys)
    assert result["series"] == 6 * 7
    assert result["max_abs_diff_scaled"] >= result["mean_abs_diff_scaled"] >= 0
    assert result["mase_fp32"] > 0 and result["mase_bf16"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_bench_on_cuda_without_one_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "inference", "--device", "cuda", "--servers", "20"])
    assert exit_.value.code == 2
    assert "sees no CUDA device" in capsys.readouterr().err


def test_windows_and_forecasts_are_matched_by_forecast_id() -> None:
    window = make_window("ppdb001", end=datetime(2026, 3, 1, 12, 5, tzinfo=UTC))
    fid = Forecast.make_id("ppdb001", window.end)
    assert window_id(b"ppdb001", window.to_bytes()) == fid
    assert forecast_id(b'{"schema_version":1,"forecast_id":"' + fid.encode() + b'"}') == fid
    missing, seconds = latency_figures({fid: 10.0, "other@x": 11.0}, {fid: 10.25})
    assert missing == 1 and seconds.tolist() == [0.25]


def test_forecasts_are_counted_by_the_model_that_computed_them() -> None:
    computed = b'{"forecast_id":"a@x","model_version":"tft-bb-1","status":"ok"}'
    warming = b'{"forecast_id":"b@x","model_version":"tft-bb-1","status":"warming_up"}'
    assert forecast_model(computed) == "tft-bb-1"
    assert forecast_model(warming) == WARMING_UP
    assert forecast_model(b"not json") == WARMING_UP
    stamps = Stamps(closed={"a@x": 1.0, "b@x": 2.0, "c@x": 3.0},
                    forecast_at={"a@x": 1.5, "b@x": 2.5},
                    model_of={"a@x": "tft-bb-1", "b@x": WARMING_UP})
    assert stamps.computed() == {"tft-bb-1": 1, WARMING_UP: 1}
    assert stamps.within(1.5, 3.0).computed() == {WARMING_UP: 1}


def test_a_run_the_model_did_not_compute_everywhere_fails() -> None:
    assert model_ran("tft", 10, {"tft-bb-1": 10}) == 0
    assert model_ran("baseline", 10, {WARMING_UP: 10}) == 0, "it has no model to run"
    assert model_ran("tft", 10, {"tft-bb-1": 6, WARMING_UP: 4}) == 3
    assert model_ran("tft", 10, {"baseline-snaive-trend-1": 10}) == 3, "not the TFT"
    assert model_ran("auto", 10, {WARMING_UP: 10}) == 3


def run_tiny_pipeline(capsys: pytest.CaptureFixture[str], history_hours: float, speed: float
                      ) -> tuple[int, dict, str]:
    code = main(["bench", "pipeline", "--servers", "4", "--speed", str(speed), "--warm-up", "2",
                 "--duration", "8", "--history-hours", str(history_hours), "--json"])
    captured = capsys.readouterr()
    (result,) = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    return code, result, captured.err


@pytest.mark.broker
def test_bench_pipeline_with_the_history_seeded_has_the_model_forecast_every_window(
    tiny_tft: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result, _ = run_tiny_pipeline(capsys, 24, speed=300)
    assert code == 0
    assert result["servers"] == 4 and result["forecasts"] > 0
    assert result["computed"] == {tiny_tft: result["forecasts"]}, "the TFT ran for every window"
    assert 0 < result["p50_s"] <= result["p95_s"] <= result["p99_s"] <= result["max_s"]


@pytest.mark.broker
def test_bench_pipeline_without_history_says_it_measured_no_forecasting(
    tiny_tft: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # At speed 60 a step closes every 5 s: the 36 steps of the minimum context take 3 minutes,
    # far beyond this run.
    code, result, err = run_tiny_pipeline(capsys, 0, speed=60)
    assert code == 3
    assert result["computed"] == {WARMING_UP: result["forecasts"]}
    assert "the model computed 0 of" in err
