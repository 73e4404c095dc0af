"""Brier scores, outcomes of crossing pairs, and the isotonic calibration's round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from inference_worker.breach import load_calibration as worker_calibration
from modelling.calibration import (
    CrossingPairs,
    brier,
    climatology_brier,
    fit_calibration,
    load_calibration,
    outcomes,
    reliability,
    save_calibration,
)
from modelling.incidents import Incident

AT = pd.Timestamp("2013-08-02 10:00", tz="UTC")
MIN_NS = 60 * 10**9


def pairs(origins_min: list[int], scores: list[float], server: str = "bbvm1",
          metric: str = "cpu_pct") -> CrossingPairs:
    """Pairs at ``origins_min`` minutes from AT."""
    n = len(origins_min)
    return CrossingPairs(np.array([server] * n, dtype=object), np.array([metric] * n, dtype=object),
                         np.array([AT.value + m * MIN_NS for m in origins_min], dtype=np.int64),
                         np.array(scores, dtype=np.float64), np.array(scores, dtype=np.float64))


def test_outcome_is_an_incident_of_that_server_and_metric_within_the_window() -> None:
    incident = [Incident("bbvm1", "cpu_pct", AT, step=0)]
    at = pairs([-485, -480, -30, 0, 5], [0.5] * 5)
    assert outcomes(at, incident, 8 * 60 * MIN_NS).tolist() == [False, True, True, True, False]
    assert outcomes(at, incident, 30 * MIN_NS).tolist() == [False, False, True, True, False]
    other = pairs([0], [0.5], metric="mem_pct")
    assert outcomes(other, incident, 8 * 60 * MIN_NS).tolist() == [False]


def test_brier_and_climatology() -> None:
    assert brier(np.array([1.0, 0.0]), np.array([1, 0])) == 0.0
    assert brier(np.array([0.5, 0.5]), np.array([1, 0])) == 0.25
    assert climatology_brier(np.array([1, 0, 0, 0])) == pytest.approx(0.1875)
    assert brier(np.array([]), np.array([])) is None


def test_reliability_bins_hold_the_mean_forecast_and_frequency() -> None:
    table = reliability(np.array([0.05, 0.05, 0.95, 0.95]), np.array([0, 1, 1, 1]))
    assert [(b.low, b.count, b.observed_rate) for b in table] == [
        (0.0, 2, 0.5), (pytest.approx(0.9), 2, 1.0)]


def test_fit_calibration_round_trip(tmp_path) -> None:
    # Raw scores 0.9 at origins followed by an incident within 30 min, 0.2 elsewhere.
    incident = [Incident("bbvm1", "cpu_pct", AT, step=0)]
    origins = list(range(-600, 60, 30))
    scores = [0.9 if -30 <= m <= 0 else 0.2 for m in origins]
    fitted = fit_calibration(pairs(origins, scores), incident)
    assert fitted.p_30m(0.9) == pytest.approx(1.0)
    assert fitted.p_30m(0.2) == pytest.approx(0.0)
    # 8 h: the 0.2 origins from -480 to -60 precede the incident too (15 of 20).
    assert fitted.p_8h(0.2) == pytest.approx(15 / 20)
    path = save_calibration(fitted, tmp_path)
    assert set(json.loads(path.read_text())) == {"p_30m", "p_8h"}
    loaded = load_calibration(tmp_path)
    assert loaded == fitted
    assert worker_calibration(tmp_path) == fitted  # what the inference worker reads
    assert load_calibration(tmp_path / "absent") is None


def test_pairs_survive_json() -> None:
    original = pairs([0, 30], [0.1, float("nan")])
    again = CrossingPairs.from_json(json.loads(json.dumps(original.to_json())))
    assert again.origin_ns.tolist() == original.origin_ns.tolist()
    assert again.score_8h[0] == 0.1 and np.isnan(again.score_8h[1])
    assert list(again.server_id) == ["bbvm1", "bbvm1"]
