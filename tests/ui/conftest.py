"""UI test fixtures: process-wide clients must not leak from one test into the next, and one
running stack (``fleetcast up``) is shared by the tests that need the whole pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcast.broker import EmbeddedBroker, free_port, wait_for_port
from fleetcast.kafka import ensure_topics
from fleetcast.settings import Settings
from schemas.topics import TOPICS
from tests.helpers import ServiceProcess
from ui.feed import stop_shared_feeds
from ui.pipeline import stop_shared_monitors
from ui.shared import close_shared_producers

API_TOKEN = "browser-test-token"


@pytest.fixture(autouse=True)
def _fresh_shared_clients() -> Iterator[None]:
    yield
    # Before the session broker goes away, so librdkafka has nothing left to retry.
    stop_shared_feeds()
    stop_shared_monitors()
    close_shared_producers()


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
