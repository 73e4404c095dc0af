"""``fleetcast evaluate --format bitbrains --alerts`` on a slice of the real trace, and peers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelling.backtest import ModelDeclined, SeriesData, backtest
from modelling.baselines import LastValue
from modelling.evaluate import run_evaluate_bitbrains
from modelling.incident_replay import RULE_NAMES
from modelling.peers import StatsforecastModel
from modelling.report import NEGLIGIBLE_SCALE, report_dict
from schemas.alert import AlertEvent

REAL = Path(__file__).resolve().parents[2].parent / "shared/data/bitbrains/rnd-2013-08.parquet"
METRIC_KEYS = {"cpu_pct", "mem_pct", "net_in_mbps", "net_out_mbps"}


@pytest.mark.skipif(not REAL.is_file(), reason=f"the Bitbrains trace is not at {REAL}")
def test_bitbrains_evaluate_writes_the_documented_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_evaluate_bitbrains(
        files=[REAL], model_path=tmp_path / "no-model", out_dir=out, vms=[1, 2, 3],
        start="2013-08-01", end="2013-08-04", stride=96, peers=False, tft=False,
        alerts=True, alert_every=30, alert_forecaster="baseline",
    )
    report = json.loads((out / "report.json").read_text())
    assert set(report["models"]) == {"last_value", "seasonal_naive", "linear_trend",
                                     "ets_statsmodels"}
    for scores in report["models"].values():
        assert {"mase", "pinball", "coverage_p10_p90", "mase_median"} <= set(scores)
        assert set(scores["per_metric"]) == METRIC_KEYS
        for figures in scores["per_metric"].values():
            assert set(figures) == {"mase_median", "coverage_p10_p90"}
    assert set(report["alerts"]) == set(RULE_NAMES)
    for figures in report["alerts"].values():
        assert {"incidents", "warned_share", "median_lead_min", "false_per_100_server_days",
                "false_on_hours_per_server_day"} <= set(figures)
    assert {"brier_8h", "brier_climatology_8h"} <= set(report["calibration"])
    assert report["alert_replay"]["servers"] == 3
    # 3 VMs x (2 days after the first one) x 48 origins.
    assert report["alert_replay"]["windows"] == 3 * 2 * 48
    for line in (out / "alerts.jsonl").read_text().splitlines():
        AlertEvent.model_validate_json(line)
    markdown = (out / "report.md").read_text()
    assert "## Alert quality on real incidents" in markdown and "| seasonal_naive |" in markdown
    assert (out / "reliability_p8h.png").stat().st_size > 0


def series(name: str, values: np.ndarray) -> SeriesData:
    stamps = np.datetime64("2013-08-01T00:00") + np.arange(len(values)) * np.timedelta64(5, "m")
    return SeriesData(name, "net_in_mbps", stamps, values)


def test_medians_leave_out_series_of_negligible_scale() -> None:
    rng = np.random.default_rng(3)
    busy = series("busy", 10 + rng.normal(size=700))
    idle = series("idle", np.r_[np.zeros(500), np.ones(200)])  # zero all through training
    result = backtest([busy, idle], [LastValue()], horizon=24, stride=48)
    scales = {r.series: r.scale for r in result.per_series}
    assert scales["idle"] <= NEGLIGIBLE_SCALE < scales["busy"]
    report = report_dict(result)
    busy_mase = next(r.scores.mase for r in result.per_series if r.series == "busy")
    assert report["models"]["last_value"]["mase_median"] == pytest.approx(busy_mase, abs=1e-6)
    assert report["models"]["last_value"]["mase"] > 1e6  # the mean keeps the idle series
    assert report["negligible_scale_series"] == ["idle/net_in_mbps"]


class FakeLibraryModel:
    """statsforecast's ``forecast`` contract: mean and the interval at the asked level."""

    def __init__(self, season: int) -> None:
        self.season = season

    def forecast(self, *, y: np.ndarray, h: int, level: list[int]) -> dict[str, np.ndarray]:
        last = np.full(h, y[-1])
        return {"mean": last, f"lo-{level[0]}": last - 1, f"hi-{level[0]}": last + 1}


def test_a_peer_forecasts_until_its_budget_is_spent_then_declines() -> None:
    peer = StatsforecastModel("fake", FakeLibraryModel, label="fake", budget_s=None)
    out = peer(np.r_[np.arange(10.0), np.nan], 4)
    assert out.tolist() == [[8.0] * 4, [9.0] * 4, [10.0] * 4]
    spent = StatsforecastModel("fake", FakeLibraryModel, label="fake", budget_s=0.0)
    result = backtest([series("s", np.arange(700.0))], [LastValue(), spent], horizon=24,
                      stride=48)
    assert result.models["fake"].n_forecasts == 0
    assert result.models["last_value"].n_forecasts > 0
    assert result.model_info["fake"].extra["declined"] == result.models["last_value"].n_forecasts
    with pytest.raises(ModelDeclined):
        spent(np.arange(10.0), 4)


class SlowLibraryModel(FakeLibraryModel):
    def forecast(self, **kwargs) -> dict[str, np.ndarray]:
        import time

        time.sleep(0.02)
        return super().forecast(**kwargs)


def test_a_per_series_budget_spreads_the_fits_over_every_series() -> None:
    peer = StatsforecastModel("slow", SlowLibraryModel, label="slow", series_budget_s=0.01)
    data = [series(name, np.arange(700.0)) for name in ("a", "b", "c")]
    result = backtest(data, [LastValue(), peer], horizon=24, stride=48)
    # One fit per series (the first origin; it spends the series' budget), the rest declined.
    assert [r.origins for r in result.per_series if r.model == "slow"] == [1, 1, 1]
    assert result.model_info["slow"].extra["declined_reasons"] == {
        "series time budget spent": result.models["last_value"].n_forecasts - 3}


def test_autotheta_from_statsforecast_forecasts_a_daily_pattern() -> None:
    pytest.importorskip("statsforecast.models", reason="statsforecast is not installed")
    from modelling.peers import peer_models

    theta = next(m for m in peer_models(None) if m.name == "autotheta")
    # A week (its fit window): with 3 days statsforecast's seasonality test finds no season.
    steps = np.arange(7 * 288)
    noise = np.random.default_rng(1).normal(size=len(steps))
    daily = 50 + 20 * np.sin(2 * np.pi * steps / 288) + noise
    out = theta(daily, 96)
    assert out.shape == (3, 96) and np.isfinite(out).all()
    assert (out[0] <= out[1]).all() and (out[1] <= out[2]).all()
    truth = 50 + 20 * np.sin(2 * np.pi * np.arange(7 * 288, 7 * 288 + 96) / 288)
    assert np.abs(out[1] - truth).mean() < 2.0  # it found the season
