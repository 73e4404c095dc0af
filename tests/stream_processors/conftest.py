"""Fixtures for the Faust worker tests: ``fleetcast process`` as a child process."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.settings import Settings
from tests.helpers import ServiceProcess


@pytest.fixture
def start_worker(settings: Settings, tmp_path) -> Iterator[Callable[..., ServiceProcess]]:
    """Starts ``fleetcast process`` on ``settings`` (or the given ones); stops them all after."""
    workers: list[ServiceProcess] = []

    def start(on: Settings | None = None) -> ServiceProcess:
        worker = ServiceProcess(on or settings, "process", log_path=str(tmp_path / "process.log"))
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
