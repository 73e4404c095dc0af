"""``reload_model`` on the control topic: its schema, and the producer leaving it alone.

The producer reads every control command; ``reload_model`` is the inference
workers' and must be neither applied nor dead-lettered there, while garbage
still is.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import jsonschema
import pytest

from core.control import open_control_consumer
from core.kafka import make_producer
from core.settings import Settings
from producers.control import ControlHandler
from producers.simulator import FleetSimulator
from schemas.__main__ import render, schema_file
from schemas.control_event import ControlEvent, ReloadModel, is_command
from tests.helpers import TopicReader
from tests.inference_worker.broker_helpers import WAIT_S, at_least, letters_of, publish, settle


def test_reload_model_is_its_own_command_with_a_checked_in_schema() -> None:
    raw = b'{"schema_version": 1, "command": "reload_model"}'
    assert ReloadModel.model_validate_json(raw) == ReloadModel()
    assert is_command(raw, ReloadModel) and not is_command(raw, ControlEvent)
    assert not is_command(b'{"command": "reload_model", "scenario": "critical"}', ReloadModel)
    assert not is_command(b"{}", ReloadModel), "a command names itself"
    assert schema_file(ReloadModel).read_text() == render(ReloadModel)
    jsonschema.validate(json.loads(raw), json.loads(schema_file(ReloadModel).read_text()))


@pytest.mark.broker
def test_the_producer_ignores_reload_model_and_still_rejects_garbage(
    settings: Settings, read_topic: Callable[[Settings, str], TopicReader]
) -> None:
    letters = read_topic(settings, settings.topic_deadletter)
    consumer = open_control_consumer(settings)
    handler = ControlHandler(settings, consumer, make_producer(settings),
                             FleetSimulator(["ppdb001"], seed=1), threading.Event())
    try:
        # One partition: by the time the garbage is rejected, the command before it was read.
        publish(settings, [(None, ReloadModel().to_bytes()), (None, b"garbage")],
                topic=settings.topic_control)
        deadline = time.monotonic() + WAIT_S
        while handler.rejected < 1 and time.monotonic() < deadline:
            handler.poll(0.5)
        letters.wait_for(at_least(1), WAIT_S)
        settle(letters)
    finally:
        consumer.close()
    assert (handler.applied, handler.rejected) == (0, 1)
    assert [letter.payload() for letter in letters_of(letters)] == [b"garbage"]
