from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import numpy as np
import pytest

from inference_worker.breach import BreachCalibration, Calibration
from inference_worker.scoring import Outlook, Risk, assess, outlooks, score_ahead, score_now
from schemas.common import METRICS
from schemas.profiles import profile_for
from schemas.severity import severity_for
from schemas.thresholds import Threshold, thresholds_for
from tests.inference_worker.factories import HEALTHY, T0

HORIZON = 96
STEP_SECONDS = 300
CPU = Threshold(85.0, 95.0)  # the default cpu_pct thresholds


def path(level: float, *, then: float | None = None, at: int = 0) -> np.ndarray:
    """A flat forecast path at ``level`` that jumps to ``then`` from step ``at``."""
    out = np.full(HORIZON, level)
    if then is not None:
        out[at:] = then
    return out


def bands(p50: np.ndarray, p90: np.ndarray | None = None) -> np.ndarray:
    """One metric's ``[q, h]``: p10 5 % under p50, p90 as given (default 5 % over)."""
    return np.stack([0.95 * p50, p50, 1.05 * p50 if p90 is None else p90])


def flat_forecast(**overrides: np.ndarray) -> np.ndarray:
    """``[m, q, h]`` for a server holding its healthy levels, with some metrics' ``[q, h]``."""
    out = np.stack([bands(path(HEALTHY[name])) for name in METRICS])
    for name, quantiles in overrides.items():
        out[METRICS.index(name)] = quantiles
    return out


def risk_of(
    server_id: str, latest: dict[str, float | None], quantiles: np.ndarray | None = None
) -> Risk:
    """``assess`` for a server of the profile its name gives, forecast from ``T0``."""
    return assess(
        server_id=server_id, profile=profile_for(server_id), last_values=latest,
        quantiles=quantiles, start=T0, step_seconds=STEP_SECONDS,
    )


def test_the_thresholds_are_ordered_for_every_profile() -> None:
    for profile in ("generic", "database", "ml_compute", "web_api", "data_ingest"):
        limits = thresholds_for(profile)
        assert set(limits) == set(METRICS)
        assert all(0 < t.warning < t.critical for t in limits.values())


def test_the_watch_level_sits_below_warning() -> None:
    assert CPU.watch == 65.0  # two warning-to-critical gaps below warning
    assert Threshold(10.0, 100.0).watch == 6.0  # but never below 60 % of warning
    for limits in (thresholds_for("generic"), thresholds_for("database")):
        assert all(0 < t.watch < t.warning for t in limits.values())


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        (0.0, 0.0, 0.0),
        (30.0, 1.0, 29.999),  # below the watch level (65)
        (64.9, 28.0, 29.999),
        (65.0, 30.0, 30.0),
        (75.0, 30.0, 59.999),  # watch band, up to warning
        (84.9, 58.0, 59.999),
        (85.0, 60.0, 60.0),  # warning to critical
        (90.0, 60.0, 79.999),
        (94.9, 78.0, 79.999),
        (95.0, 80.0, 80.0),  # critical and beyond
        (99.0, 80.0, 100.0),
        (100.0, 80.0, 100.0),
        (1e9, 100.0, 100.0),  # capped
        (-5.0, 0.0, 0.0),
        (float("nan"), 0.0, 0.0),
    ],
)
def test_score_now_bands(value: float, low: float, high: float) -> None:
    assert low - 1e-9 <= score_now(value, CPU) <= high + 1e-9


def test_score_now_rises_with_the_value() -> None:
    scores = [score_now(v, CPU) for v in np.linspace(0, 100, 201)]
    assert all(b >= a for a, b in pairwise(scores))


def test_a_database_full_of_cache_is_not_alarming_but_a_pinned_ml_node_is() -> None:
    database = risk_of("ppdb001", {"mem_pct": 98.0})
    assert database.score < 60
    assert database.severity not in ("warning", "danger", "critical", "imminent_failure")
    cached = risk_of("ppdb001", {"mem_pct": 90.0})
    assert cached.severity == "healthy"
    generic = risk_of("ppsrv001", {"mem_pct": 98.0})
    assert generic.score >= 80  # the same memory on another server is critical

    ml_node = risk_of("ppml0001", {"cpu_pct": 98.0})
    assert ml_node.score >= 80
    assert ml_node.metric == "cpu_pct"
    assert ml_node.severity in ("critical", "imminent_failure")


def outlook_of(quantiles: np.ndarray, level: float = 95.0,
               calibration: BreachCalibration | None = None) -> Outlook:
    """The cpu_pct outlook of a generic server whose cpu forecast is ``quantiles``."""
    return outlooks("generic", flat_forecast(cpu_pct=quantiles), T0, STEP_SECONDS,
                    calibration=calibration or BreachCalibration())["cpu_pct"]


def test_a_p50_crossing_critical_soon_is_imminent_with_its_breach_time() -> None:
    quantiles = bands(path(50.0, then=104.0, at=3))
    outlook = outlook_of(quantiles)
    assert outlook.p_30m > 0.9 and outlook.p_8h >= outlook.p_30m
    assert outlook.breach_at == T0 + timedelta(seconds=3 * STEP_SECONDS)
    assert score_ahead(outlook, T0) >= 90.0

    risk = risk_of("ppsrv001", dict(HEALTHY), flat_forecast(cpu_pct=quantiles))
    assert risk.severity == "imminent_failure"
    assert (risk.metric, risk.cause) == ("cpu_pct", "forecast")
    assert risk.predicted_breach_at == T0 + timedelta(seconds=3 * STEP_SECONDS)
    assert risk.p_30m == pytest.approx(outlook.p_30m)
    assert "breach predicted at" in risk.summary


def test_a_likely_breach_hours_away_is_danger_not_critical() -> None:
    outlook = outlook_of(bands(path(50.0, then=104.0, at=60)))  # 5 h out
    assert outlook.p_30m < 0.01 and outlook.p_8h > 0.9
    assert severity_for(score_ahead(outlook, T0)) == "danger"


def test_sooner_or_likelier_never_scores_lower() -> None:
    scores = [score_ahead(outlook_of(bands(path(50.0, then=104.0, at=at))), T0)
              for at in range(HORIZON)]
    assert all(b <= a for a, b in pairwise(scores))
    levels = [score_ahead(outlook_of(bands(path(50.0, then=v, at=10))), T0)
              for v in np.linspace(80, 100, 21)]
    assert all(b >= a for a, b in pairwise(levels))


def test_only_the_pessimistic_p90_reaching_critical_is_a_small_chance() -> None:
    # p50 stays at 50 while p90 reaches 96: about a 10% chance of passing 95.
    quantiles = bands(path(50.0), p90=path(60.0, then=96.0, at=10))
    outlook = outlook_of(quantiles)
    assert 0.1 < outlook.p_8h < 0.15
    assert outlook.breach_at == T0 + timedelta(seconds=10 * STEP_SECONDS)  # likeliest step
    assert severity_for(score_ahead(outlook, T0)) == "watch"


def test_the_model_s_calibration_is_applied() -> None:
    shy = BreachCalibration(p_8h=Calibration(x=(0.0, 1.0), y=(0.0, 0.3)))
    quantiles = bands(path(50.0, then=104.0, at=60))
    raw = outlook_of(quantiles).p_8h
    assert outlook_of(quantiles, calibration=shy).p_8h == pytest.approx(0.3 * raw)
    assert severity_for(score_ahead(outlook_of(quantiles, calibration=shy), T0)) == "warning"


def test_a_metric_without_a_full_forecast_has_no_outlook() -> None:
    quantiles = bands(path(50.0, then=99.0, at=0))
    quantiles[1, 40] = np.nan
    forecast = flat_forecast(cpu_pct=quantiles)
    assert "cpu_pct" not in outlooks("generic", forecast, T0, STEP_SECONDS,
                                     calibration=BreachCalibration())


def test_a_value_past_critical_now_is_certain() -> None:
    risk = risk_of("ppsrv001", dict(HEALTHY) | {"cpu_pct": 99.0}, flat_forecast())
    assert (risk.p_incident_30m, risk.p_incident_8h) == (1.0, 1.0)
    assert risk.outlooks["cpu_pct"].p_30m == 1.0
    assert risk.cause == "current"


def test_the_server_s_chance_combines_its_metrics() -> None:
    quantiles = bands(path(50.0, then=104.0, at=60))
    risk = risk_of("ppsrv001", dict(HEALTHY), flat_forecast(cpu_pct=quantiles,
                                                            mem_pct=quantiles))
    cpu, mem = risk.outlooks["cpu_pct"].p_8h, risk.outlooks["mem_pct"].p_8h
    assert risk.p_incident_8h == pytest.approx(1 - (1 - cpu) * (1 - mem), abs=1e-3)


def test_assess_picks_and_names_the_worst_metric() -> None:
    latest = dict(HEALTHY) | {"cpu_pct": 90.0}  # warning now: 60-79
    latency = bands(path(50.0, then=2000.0, at=2))  # p50 past critical (1500) within 10 min
    risk = risk_of("ppsrv001", latest, flat_forecast(latency_ms=latency))
    assert risk.metric == "latency_ms"
    assert risk.score >= 90.0
    assert risk.predicted_breach_at == T0 + timedelta(seconds=2 * STEP_SECONDS)
    assert "latency_ms" in risk.summary

    # Without the forecast, cpu is the worst, and there is no breach time.
    now_only = risk_of("ppsrv001", latest)
    assert now_only.metric == "cpu_pct"
    assert now_only.severity == "warning"
    assert now_only.predicted_breach_at is None
    assert "cpu_pct at 90" in now_only.summary


def test_thresholds_follow_the_profile_in_assess() -> None:
    # 900 ms is past critical for a database (800), but only past warning for a
    # web API (400-1000) and a generic server (500-1500).
    latest = dict(HEALTHY) | {"latency_ms": 900.0}
    assert risk_of("ppdb001", latest).score >= 80
    assert 60 <= risk_of("ppweb001", latest).score < 80
    assert 60 <= risk_of("ppsrv001", latest).score < 80


def test_healthy_values_and_a_flat_forecast_are_healthy() -> None:
    risk = risk_of("ppsrv001", dict(HEALTHY), flat_forecast())
    assert risk.severity == "healthy"
    assert risk.score < 30
    assert risk.predicted_breach_at is None
    assert risk.summary.startswith("ppsrv001 (generic) healthy")


def test_missing_values_score_nothing() -> None:
    risk = risk_of("ppsrv001", dict.fromkeys(METRICS))
    assert risk.score == 0.0
    assert risk.metric is None
    assert risk.severity == "healthy"
