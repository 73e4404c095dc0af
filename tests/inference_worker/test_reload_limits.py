"""The model reloader's limits: commands are rate-limited, ``latest`` cannot point outside."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from inference_worker.reload import ModelReloader
from inference_worker.tft.artifacts import LATEST, METADATA, ModelArtifactError, resolve


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _settle(reloader: ModelReloader) -> None:
    """Wait for the load under way (instant here) and take its outcome."""
    deadline = time.monotonic() + 5
    while reloader.loading and reloader.ready() is None and time.monotonic() < deadline:
        time.sleep(0.001)


def test_a_flood_of_reload_commands_makes_one_load_per_interval():
    clock = Clock()
    loads: list[float] = []
    def load() -> Any:
        loads.append(clock.now)
        return object()

    reloader = ModelReloader(load, Path("nowhere"), poll_s=0, stamp=None, clock=clock,
                             min_interval_s=10.0)
    try:
        for i in range(61):  # 61 commands in 30 s, as in the issue
            clock.now = i * 0.5
            reloader.request(f"command {i}", command=True)
            reloader.check()
            _settle(reloader)
        clock.now = 45.0
        reloader.check()  # nothing is held any more: no further load
        _settle(reloader)
    finally:
        reloader.close()
    # The commands of 0.5-9.5 s are held and served by the load at 10 s, and so on; the
    # one at 30 s joins the load the held ones start then.
    assert loads == [0.0, 10.0, 20.0, 30.0]
    assert reloader.loads == 4 and reloader.coalesced == 61 - 4


def test_a_change_of_the_files_is_not_rate_limited():
    clock = Clock()
    count: list[int] = []

    def load() -> Any:
        count.append(1)
        return object()

    reloader = ModelReloader(load, Path("nowhere"), poll_s=0, stamp=None, clock=clock,
                             min_interval_s=10.0)
    try:
        reloader.request("command", command=True)
        _settle(reloader)
        reloader.request("models/latest changed")  # a new version: loaded at once
        _settle(reloader)
    finally:
        reloader.close()
    assert len(count) == 2


def _models(tmp_path: Path) -> Path:
    models = tmp_path / "models"
    (models / "v1").mkdir(parents=True)
    (models / "v1" / METADATA).write_text("{}")
    return models


def test_latest_resolves_to_a_version_inside_models(tmp_path):
    models = _models(tmp_path)
    (models / LATEST).write_text("v1\n")
    assert resolve(models / LATEST) == models / "v1"
    assert resolve(models) == models / "v1"


@pytest.mark.parametrize("target", ["../outside", "/etc", "v1/../../outside", "", ".", "..",
                                    "link-out"])
def test_latest_pointing_outside_models_is_refused(tmp_path, target):
    models = _models(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / METADATA).write_text("{}")
    (models / "link-out").symlink_to(outside)
    (models / LATEST).write_text(target + "\n")
    with pytest.raises(ModelArtifactError, match="not a model folder inside"):
        resolve(models / LATEST)
