"""Fixtures for the inference worker's broker tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.settings import Settings
from inference_worker.forecaster import Forecaster
from tests.inference_worker.broker_helpers import Running


@pytest.fixture
def start_worker() -> Iterator[Callable[..., Running]]:
    """Starts inference workers in threads; shuts them down before the test ends."""
    running: list[Running] = []

    def start(settings: Settings, forecaster: Forecaster | None = None) -> Running:
        worker = Running(settings, forecaster)
        running.append(worker)
        return worker

    yield start
    for worker in running:
        if worker.thread.is_alive():
            worker.shut_down()
    running.clear()  # and with them their Kafka clients, before the broker goes
