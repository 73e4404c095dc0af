from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from inference_worker.alerts import AlertTracker
from inference_worker.baseline_forecaster import SeasonalNaiveTrend
from inference_worker.batch_scoring import Scored, last_values, score_batch
from inference_worker.batcher import BatchMismatchError
from inference_worker.forecaster import Batch
from schemas.common import METRICS
from schemas.context_window import ContextWindow
from schemas.forecast import Forecast
from schemas.severity import rank
from tests.inference_worker.factories import HEALTHY, STEP, T0, make_window

ISSUED = T0 + timedelta(seconds=2)
HORIZON = 96


class Spy(SeasonalNaiveTrend):
    """The baseline, remembering which windows each ``predict`` call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def predict(self, batch: Batch) -> np.ndarray:
        self.calls.append([w.server_id for w in batch.windows])
        return super().predict(batch)


class DropsOne(SeasonalNaiveTrend):
    def predict(self, batch: Batch) -> np.ndarray:
        return super().predict(batch)[:-1]


def score(windows: list[ContextWindow], forecaster: SeasonalNaiveTrend | None = None,
          tracker: AlertTracker | None = None) -> list[Scored]:
    return score_batch(forecaster or SeasonalNaiveTrend(), windows, tracker or AlertTracker(),
                       ISSUED)


def test_a_warming_up_window_gets_no_quantiles_but_a_risk_from_its_values() -> None:
    quiet, hot = score([
        make_window("ppsrv001", observed=20, noise=0.5),
        make_window("ppsrv002", {"cpu_pct": 99.0}, observed=20),
    ])
    for result in (quiet, hot):
        forecast = result.forecast
        assert forecast.status == "warming_up"
        assert forecast.quantiles == {}
        assert forecast.context_steps == 20
        assert forecast.min_context_steps == 36
        assert forecast.horizon_steps == HORIZON
    assert quiet.forecast.severity == "healthy"
    assert quiet.alert is None
    assert quiet.forecast.last_values["cpu_pct"] == pytest.approx(HEALTHY["cpu_pct"], abs=3)
    assert hot.forecast.risk_score >= 80  # from the current cpu alone
    assert hot.forecast.risk_metric == "cpu_pct"
    assert hot.forecast.predicted_breach_at is None
    assert hot.alert is not None
    assert hot.alert.status == "firing"


def test_the_minimum_context_is_inclusive() -> None:
    short, enough = score([make_window("ppsrv001", observed=35),
                           make_window("ppsrv002", observed=36)])
    assert short.forecast.status == "warming_up"
    assert enough.forecast.status == "ok"


def test_a_ready_window_gets_every_metric_forecast() -> None:
    window = make_window("ppsrv001", noise=0.5, end=T0)
    (result,) = score([window])
    forecast = result.forecast
    assert forecast.status == "ok"
    assert set(forecast.quantiles) == set(METRICS)
    for name, quantiles in forecast.quantiles.items():
        assert len(quantiles.p10) == len(quantiles.p50) == len(quantiles.p90) == HORIZON
        assert all(lo <= mid <= hi for lo, mid, hi in
                   zip(quantiles.p10, quantiles.p50, quantiles.p90, strict=True)), name
    assert forecast.quantiles["cpu_pct"].p50[0] == pytest.approx(HEALTHY["cpu_pct"], abs=3)
    assert forecast.start == window.end
    assert forecast.step_seconds == window.step_seconds
    assert forecast.context_steps == 288
    assert forecast.issued_at == ISSUED
    assert forecast.model_version == SeasonalNaiveTrend.version
    assert forecast.server_id == "ppsrv001"
    assert forecast.profile == "generic"
    assert forecast.severity == "healthy"
    assert result.alert is None
    # It survives the wire unchanged.
    assert Forecast.model_validate_json(forecast.to_bytes()) == forecast


def test_the_forecast_id_is_stable_per_window() -> None:
    window = make_window("ppsrv001", end=T0)
    first = score([window])[0].forecast
    again = score_batch(SeasonalNaiveTrend(), [window], AlertTracker(), ISSUED + STEP)[0].forecast
    later = score([make_window("ppsrv001", end=T0 + STEP)])[0].forecast
    assert first.forecast_id == again.forecast_id == f"ppsrv001@{T0.isoformat()}"
    assert later.forecast_id != first.forecast_id


def test_a_critical_window_fires_an_alert() -> None:
    (result,) = score([make_window("ppsrv001", {"cpu_pct": 99.0}, noise=0.3)])
    assert rank(result.forecast.severity) >= rank("danger")
    assert result.forecast.risk_metric == "cpu_pct"
    alert = result.alert
    assert alert is not None
    assert alert.status == "firing"
    assert rank(alert.severity) >= rank("danger")
    assert alert.severity == result.forecast.severity
    assert alert.risk_score == result.forecast.risk_score
    assert alert.server_id == "ppsrv001"
    assert alert.metric == "cpu_pct"


def test_the_tracker_carries_alerts_across_batches() -> None:
    tracker = AlertTracker()
    hot = {"cpu_pct": 99.0}
    opened = score([make_window("ppsrv001", hot, end=T0)], tracker=tracker)[0].alert
    same = score([make_window("ppsrv001", hot, end=T0 + STEP)], tracker=tracker)[0].alert
    # Cooled down: flat at 30 over the whole window (no ramp left to extrapolate).
    resolved = score([make_window("ppsrv001", end=T0 + 2 * STEP)], tracker=tracker)[0].alert
    assert opened is not None
    assert same is None
    assert resolved is not None
    assert resolved.status == "resolved"
    assert resolved.alert_id == opened.alert_id


def test_one_output_per_input_in_order() -> None:
    spy = Spy()
    windows = [
        make_window("ppsrv001", observed=10),
        make_window("ppdb001", {"mem_pct": 98.0}),
        make_window("ppml0001", {"cpu_pct": 99.0}),
        make_window("ppsrv002", observed=30),
        make_window("ppweb001", noise=1.0),
    ]
    results = score(windows, spy)
    assert [r.forecast.server_id for r in results] == [w.server_id for w in windows]
    assert [r.forecast.status for r in results] == [
        "warming_up", "ok", "ok", "warming_up", "ok"]
    assert [r.forecast.profile for r in results] == [w.profile for w in windows]
    # One model call for the batch, with only the windows that are ready, in order.
    assert spy.calls == [["ppdb001", "ppml0001", "ppweb001"]]
    assert results[1].forecast.severity not in ("warning", "danger", "critical")
    assert results[2].alert is not None


def test_no_model_call_when_every_window_is_warming_up() -> None:
    spy = Spy()
    results = score([make_window("ppsrv001", observed=5)], spy)
    assert spy.calls == []
    assert results[0].forecast.status == "warming_up"


def test_a_forecaster_returning_the_wrong_count_fails_the_batch() -> None:
    with pytest.raises(BatchMismatchError):
        score([make_window("ppsrv001"), make_window("ppsrv002")], DropsOne())


def test_an_empty_batch() -> None:
    assert score([]) == []


def test_a_metric_never_seen_is_left_out() -> None:
    cpu_gone = np.full(288, np.nan)
    (result,) = score([make_window("ppsrv001", {"cpu_pct": cpu_gone})])
    forecast = result.forecast
    assert forecast.status == "ok"
    assert set(forecast.quantiles) == set(METRICS) - {"cpu_pct"}
    assert forecast.last_values["cpu_pct"] is None


def test_last_values_skip_trailing_gaps() -> None:
    cpu = np.full(288, 30.0)
    cpu[-3] = 77.0
    cpu[-2:] = np.nan
    latest = last_values(make_window("ppsrv001", {"cpu_pct": cpu}))
    assert latest["cpu_pct"] == 77.0
    assert latest["mem_pct"] == HEALTHY["mem_pct"]


def test_windows_of_different_lengths_share_a_batch() -> None:
    results = score([make_window("ppsrv001", steps=288), make_window("ppsrv002", steps=300),
                     make_window("ppsrv003", steps=60)])
    assert [r.forecast.status for r in results] == ["ok", "ok", "ok"]
    for result in results:
        p50 = result.forecast.quantiles["cpu_pct"].p50
        assert p50 == pytest.approx([HEALTHY["cpu_pct"]] * HORIZON, abs=1e-3)


class ForeseesACpuRamp(SeasonalNaiveTrend):
    """A model that expects CPU to climb from today's level past critical in three hours."""

    def predict(self, batch: Batch) -> np.ndarray:
        out = super().predict(batch)
        cpu = METRICS.index("cpu_pct")
        p50 = np.linspace(45.0, 110.0, HORIZON)
        out[:, cpu] = np.stack([p50 - 4.0, p50, p50 + 4.0])
        return out


def test_an_alert_fires_on_a_forecast_breach_while_every_value_is_normal() -> None:
    window = make_window("ppsrv001")  # healthy now: cpu well below warning
    assert last_values(window)["cpu_pct"] < 60

    [scored] = score([window], ForeseesACpuRamp())

    alert = scored.alert
    assert alert is not None and alert.status == "firing"
    assert rank(alert.severity) >= rank("warning")
    assert (alert.cause, alert.metric) == ("forecast", "cpu_pct")
    assert alert.predicted_breach_at is not None
    assert window.end < alert.predicted_breach_at <= window.end + timedelta(hours=8)
    assert alert.p_8h is not None and alert.p_8h > 0.9
    assert alert.p_30m is not None and alert.p_30m < 0.05
    outlook = scored.forecast.breach["cpu_pct"]
    assert (outlook.p_8h, outlook.breach_at) == (alert.p_8h, alert.predicted_breach_at)
    assert scored.forecast.p_incident_8h >= outlook.p_8h


def test_the_forecast_s_probabilities_validate_against_its_json_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "jsonschema"
                         / "Forecast.schema.json").read_text())
    [scored] = score([make_window("ppsrv001")], ForeseesACpuRamp())
    payload = json.loads(scored.forecast.to_bytes())

    jsonschema.validate(payload, schema)
    assert set(payload["breach"]) == set(scored.forecast.quantiles)
    for outlook in payload["breach"].values():
        assert 0 <= outlook["p_30m"] <= outlook["p_8h"] <= 1
    broken = payload | {"p_incident_8h": 1.5}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
