"""The dashboard's pipeline view says which stage runs, waits or has stopped, as /health does."""

from __future__ import annotations

from ui.pipeline_monitor import Snapshot, StageHealth
from ui.theme import swatch
from ui.views.pipeline_health import stage_cards


def _stage(stage: str, waiting_s: float | None, stalled: bool) -> StageHealth:
    inputs = {"process": ("metrics", "windows"), "infer": ("windows", "forecasts")}[stage]
    return StageHealth(stage, f"{stage} role", *inputs, waiting_s, stalled)


def test_each_stage_shows_ok_waiting_or_stopped_with_what_waits():
    snapshot = Snapshot(stages=[_stage("process", None, False), _stage("infer", 612.4, True)])
    ok, stopped = stage_cards(snapshot)
    assert ">ok<" in ok and swatch("healthy").strong in ok and "grew" not in ok
    assert ">stopped<" in stopped and swatch("critical").strong in stopped
    assert "windows grew, forecasts not, for 612 s" in stopped
    [waiting] = stage_cards(Snapshot(stages=[_stage("infer", 3.0, False)]))
    assert ">waiting<" in waiting and swatch("warning").strong in waiting


def test_no_sample_yet_shows_no_stage():
    assert stage_cards(Snapshot()) == []
