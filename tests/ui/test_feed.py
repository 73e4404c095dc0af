"""FleetFeed against the real broker: payloads published on the topics show up in the state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from core.kafka import make_producer
from core.settings import Settings
from tests.conftest import SettingsFactory
from tests.ui.factories import make_alert, make_forecast
from ui.api import create_app
from ui.feed import FleetFeed
from ui.services import UiServices

pytestmark = pytest.mark.broker

WAIT_S = 20.0


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(0.1)


def publish(settings: Settings, topic: str, *values: bytes) -> None:
    producer = make_producer(settings)
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(10) == 0


@pytest.fixture
def feed(settings: Settings) -> Iterator[FleetFeed]:
    feed = FleetFeed(settings)
    yield feed
    feed.stop()


def test_feed_applies_forecasts_and_alerts(settings: Settings, feed: FleetFeed) -> None:
    publish(settings, settings.topic_forecasts, make_forecast("ppdb001", 72.0).to_bytes())
    publish(settings, settings.topic_alerts, make_alert("ppdb001", severity="danger").to_bytes())

    feed.start()

    wait_until(lambda: feed.state.server_count() == 1 and feed.state.firing_count() == 1)
    assert feed.state.fleet()[0]["severity"] == "danger"
    assert feed.state.alerts()[0]["alert_id"] == "ppdb001-1"


def test_feed_skips_undecodable_messages_and_keeps_going(
    settings: Settings, feed: FleetFeed
) -> None:
    feed.start()
    publish(settings, settings.topic_forecasts, b"not json", b'{"server_id": "x"}')
    publish(settings, settings.topic_forecasts, make_forecast("ppweb001", 15.0).to_bytes())

    wait_until(lambda: feed.state.server_count() == 1)
    assert feed.undecodable == 2
    assert feed.running


def test_feed_stops(settings: Settings, feed: FleetFeed) -> None:
    feed.start()
    assert feed.running
    feed.stop()
    assert not feed.running


def test_services_hand_every_request_one_feed_and_keep_no_globals(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings()
    services = UiServices.from_kafka(settings)
    app = create_app(settings, services)
    other = create_app(settings)  # another app in the same process: clients of its own

    assert app.state.services is services
    assert services.feed is not None and services.state is services.feed.state
    assert other.state.services is not services
    assert other.state.services.feed is not services.feed
    assert not services.feed.running  # starting is the entry point's (lifespan's) decision
