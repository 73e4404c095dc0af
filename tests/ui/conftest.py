"""UI test fixtures: the services a test builds are closed after it (before the session broker
goes away), and one running stack (``fleetcast up``) is shared by the tests that need the whole
pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.broker import EmbeddedBroker, free_port, wait_for_port
from core.kafka import ensure_topics
from core.settings import Settings
from schemas.topics import TOPICS
from tests.helpers import ServiceProcess
from ui.fleet_state import FleetState
from ui.services import UiServices

API_TOKEN = "browser-test-token"


@pytest.fixture
def make_services() -> Iterator[Callable[..., UiServices]]:
    """``make_services(settings, state)``: services over a given state, closed after the test."""
    made: list[UiServices] = []

    def make(settings: Settings, state: FleetState | None = None, **kwargs: Any) -> UiServices:
        services = UiServices(settings, state=state, **kwargs)
        made.append(services)
        return services

    yield make
    for services in made:  # before the session broker goes away: nothing left to retry
        services.close()


@pytest.fixture(scope="session")
def stack(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Settings]:
    """``fleetcast up`` on the session broker, with the shipped model and the dashboard, on
    free ports and topics of its own; its log is ``up.log`` in a temporary directory."""
    tag = uuid.uuid4().hex[:10]
    work: Path = tmp_path_factory.mktemp("stack")
    settings = Settings(
        kafka_bootstrap_servers=broker.bootstrap, process_app_id=f"process-{tag}",
        infer_group_id=f"infer-{tag}", state_dir=str(work / "state"), forecaster="tft",
        servers=20, speed=240.0, ui_port=free_port(), api_port=free_port(),
        api_token=API_TOKEN, **{f"topic_{s.role}": f"t{tag}.{s.role}" for s in TOPICS},
    )
    ensure_topics(settings)
    process = ServiceProcess(settings, "up", log_path=str(work / "up.log"))
    try:
        wait_for_port(settings.ui_host, settings.ui_port, timeout_s=120)
        yield settings
    finally:
        process.stop()
