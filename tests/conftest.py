"""Shared fixtures: one embedded broker per test session, unique topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.broker import EmbeddedBroker, free_port
from core.kafka import ensure_topics
from core.settings import Settings
from schemas.topics import TOPICS
from tests.helpers import TopicReader

#: The tiny trained TFT (``history``, ``trained_model_dir``, ``loaded``), once per session.
pytest_plugins = ["tests.tiny_model"]


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(port=free_port()) as running:
        yield running


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(broker: EmbeddedBroker, tmp_path: Any) -> SettingsFactory:
    """Settings on the session broker with topic names and group ids unique to the call."""

    def factory(**overrides: Any) -> Settings:
        tag = uuid.uuid4().hex[:10]
        fields: dict[str, Any] = {
            "kafka_bootstrap_servers": broker.bootstrap,
            "process_app_id": f"process-{tag}",
            "infer_group_id": f"infer-{tag}",
            "state_dir": str(tmp_path / f"state-{tag}"),
            # The baseline unless a test asks for the model: tests must not depend on
            # whatever models/latest holds.
            "forecaster": "baseline",
        }
        fields |= {f"topic_{spec.role}": f"t{tag}.{spec.role}" for spec in TOPICS}
        fields |= overrides
        settings = Settings(**fields)
        ensure_topics(settings)
        return settings

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def read_topic() -> Iterator[Callable[[Settings, str], TopicReader]]:
    """Opens external readers of topics; closes them before the test ends."""
    readers: list[TopicReader] = []

    def open_reader(settings: Settings, topic: str) -> TopicReader:
        reader = TopicReader(settings, topic)
        readers.append(reader)
        return reader

    yield open_reader
    for reader in readers:
        reader.close()
