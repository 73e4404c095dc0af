"""FleetFeed against the real broker: payloads published on the topics show up in the state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from fleetcast.kafka import make_producer
from fleetcast.settings import Settings
from tests.conftest import SettingsFactory
from tests.ui.factories import make_alert, make_forecast
from ui.feed import FleetFeed, shared_feed

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


def test_shared_feed_is_one_per_cluster_and_topics(make_settings: SettingsFactory) -> None:
    first, other = make_settings(), make_settings()
    same_topics = first.model_copy(update={"ui_port": first.ui_port + 1})

    feed = shared_feed(first)

    assert shared_feed(same_topics) is feed
    assert shared_feed(other) is not feed
    assert not feed.running  # starting is the caller's decision
