"""Scale-out: two ``fleetcast infer`` processes in one consumer group share the windows.

Every window is of a different server, so none is superseded by coalescing:
each must come back as exactly one forecast, whichever process scored it.
Both processes must hold partitions of the windows topic while they do.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from schemas.forecast import Forecast
from tests.conftest import SettingsFactory
from tests.helpers import ServiceProcess, TopicReader
from tests.inference_worker.broker_helpers import (
    at_least,
    forecasts_of,
    publish,
    settle,
    window_message,
)

pytestmark = pytest.mark.broker

START_S = 90.0  # two Python processes importing torch on a shared two-core machine
WINDOWS = 240


ASSIGNED = re.compile(r"windows partitions assigned: \[([0-9, ]*)\]")


def held_partitions(log_path: Path) -> set[int]:
    """The partitions a worker process holds now: its last assignment in its log."""
    found = ASSIGNED.findall(log_path.read_text()) if log_path.exists() else []
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else set()


def wait_for_shared(logs: list[Path], timeout_s: float) -> list[set[int]]:
    """Until the two workers hold disjoint, non-empty shares of all six partitions."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = [held_partitions(path) for path in logs]
        if all(held) and sorted(p for parts in held for p in parts) == list(range(6)):
            return held
        time.sleep(0.5)
    raise AssertionError(f"the partitions were not shared: {[held_partitions(p) for p in logs]}")


@pytest.fixture
def two_workers(
    make_settings: SettingsFactory, tmp_path: Path
) -> Iterator[tuple[Settings, list[Path]]]:
    settings = make_settings(forecaster="baseline", batch_size=16, batch_deadline_ms=100,
                             metrics_port_infer=0)
    logs = [tmp_path / f"infer-{i}.log" for i in range(2)]
    workers = [ServiceProcess(settings, "infer", log_path=str(path)) for path in logs]
    try:
        yield settings, logs
    finally:
        for worker in workers:
            worker.stop()
    for path in logs:
        assert "Traceback" not in path.read_text()


def test_two_processes_share_the_partitions_and_score_every_window_once(
    two_workers: tuple[Settings, list[Path]], read_topic: Callable[[Settings, str], TopicReader]
) -> None:
    settings, logs = two_workers
    forecasts = read_topic(settings, settings.topic_forecasts)
    held = wait_for_shared(logs, START_S)

    sent = [window_message(f"ppsrv{n:04d}", 0) for n in range(WINDOWS)]
    publish(settings, sent)
    forecasts.wait_for(at_least(WINDOWS), START_S)
    settle(forecasts)

    ids = Counter(f.forecast_id for f in forecasts_of(forecasts))
    assert len(ids) == WINDOWS and set(ids.values()) == {1}
    assert set(ids) == {Forecast.make_id(f"ppsrv{n:04d}", forecasts_of(forecasts)[0].start)
                        for n in range(WINDOWS)}
    # Both processes scored: the windows' partitions are spread over both members.
    by_partition = Counter(m.partition() for m in forecasts.messages)
    for parts in held:
        assert sum(by_partition[p] for p in parts) > 0
