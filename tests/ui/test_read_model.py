"""The API's read model on the real broker (issue 12, rows 9 and 10, and /health): it holds a
bounded number of servers under a flood of made-up ids, it shows the scenarios the simulator
applied (not those asked for), and ``/health`` names a stage that has stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.control import publish_scenario
from core.kafka import make_producer
from core.settings import Settings
from inference_worker.service import run as run_worker
from producers.fleet import default_fleet
from producers.service import run as run_producer
from schemas.scenario_state import REFUSED_KEY, ScenarioState
from tests.conftest import SettingsFactory
from tests.helpers import ServiceThread, TopicReader
from tests.inference_worker.factories import make_window
from tests.ui.factories import make_forecast
from ui.api import create_app
from ui.services import UiServices

pytestmark = pytest.mark.broker


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s")
        time.sleep(0.1)
    return result


@contextmanager
def api(settings: Settings) -> Iterator[tuple[TestClient, UiServices]]:
    """The API over a Kafka feed of its own, its lifespan (feed, monitor) running."""
    services = UiServices.from_kafka(settings)
    with TestClient(create_app(settings, services)) as client:
        yield client, services


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'{name}{{service="api"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not on /metrics")


def test_a_flood_of_servers_is_capped_the_silent_evicted_and_the_live_shown(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(ui_max_servers=50, evict_silent_after_s=600)
    now = datetime.now(UTC)
    producer = make_producer(settings)

    def publish(forecasts: list[Any]) -> None:
        for forecast in forecasts:
            producer.produce(settings.topic_forecasts, key=forecast.server_id.encode(),
                             value=forecast.to_bytes())
        assert producer.flush(30) == 0

    def issued(server_id: str, at: datetime, step: int = 0) -> Any:
        return make_forecast(server_id, step=step).model_copy(update={"issued_at": at})

    old = [issued(f"ppold{i:04d}", now - timedelta(hours=2)) for i in range(45)]
    live = [issued(f"pplive{i:02d}", now) for i in range(5)]
    flood = [issued(f"ppflood{i:05d}", now) for i in range(2000)]
    with api(settings) as (client, services):
        feed = services.feed
        assert feed is not None
        state = services.state
        # In phases: admission follows arrival, and partitions are read in any order.
        for batch, total in ((old, 45), (live, 50), (flood, 2050)):
            publish(batch)
            wait_until(partial(lambda n: feed.applied == n, total), 60, f"{total} applied")
        publish([issued(f.server_id, datetime.now(UTC), step=1) for f in live])
        wait_until(lambda: feed.applied == 2055, 30, "the live servers' next forecasts")

        ids = set(state.server_ids())
        assert len(ids) == 50, "the cap holds"
        assert not ids & {f.server_id for f in old}, "the servers silent for 2 h made room"
        assert {f.server_id for f in live} <= ids, "live servers are never evicted"
        starts = {row["server_id"]: row["start"] for row in state.fleet()}
        assert starts["pplive00"] == (live[0].start + timedelta(minutes=5)).isoformat(), \
            "and they keep updating"
        assert (state.evicted, state.refused) == (45, 2000 - 45)
        health = client.get("/health").json()["feed"]
        assert (health["max_servers"], health["evicted"], health["refused"]) == (50, 45, 1955)
        assert metric(client, "fleetcast_feed_evicted_total") >= 45
        assert metric(client, "fleetcast_feed_refused_total") >= 1955


def test_the_api_shows_scenarios_the_simulator_applied_not_the_refused_ones(
    make_settings: SettingsFactory, read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(servers=3, backfill_hours=0, control_rate_per_s=1000,
                             control_burst=1000, metrics_port_produce=0)
    fleet = default_fleet(3)
    outside = [f"ppmadeup{i:05d}" for i in range(200)]
    scenarios = read_topic(settings, settings.topic_scenarios)
    producer_service = ServiceThread(lambda stop: run_producer(settings, stop))
    try:
        with api(settings) as (client, services):
            # The simulator announces its servers as it starts: none in a scenario.
            scenarios.wait_for(lambda ms: len(ms) >= 3, timeout_s=30)
            commands = services.producer()
            for _ in range(50):
                publish_scenario(settings, commands, "critical", outside)

            def seen() -> dict[str, Any]:
                body: dict[str, Any] = client.get("/scenarios").json()
                return body if len(body["refused"]) == 50 else {}

            body = wait_until(seen, 30, "50 refusals in the API")
            assert body["active"] == [], "nothing refused shows as active"
            assert {r["servers_named"] for r in body["refused"]} == {200}
            assert all("unknown server" in r["reason"] for r in body["refused"])
            assert services.state.overrides() == {}

            publish_scenario(settings, commands, "critical", [fleet[0]])
            active = wait_until(lambda: client.get("/scenarios").json()["active"], 30,
                                "the applied scenario in the API")
            assert [(a["server_id"], a["scenario"]) for a in active] == [(fleet[0], "critical")]
    finally:
        producer_service.shut_down()
    # On the topic: one refusal per command under a key no server has, the applied state
    # under the server's key.
    scenarios.wait_for(lambda ms: len(ms) >= 3 + 50 + 1, timeout_s=10)
    records = [((m.key() or b"").decode(), ScenarioState.model_validate_json(m.value() or b""))
               for m in scenarios.messages]
    refusals = [s for key, s in records if key == REFUSED_KEY]
    assert len(refusals) == 50 and all(s.outcome == "refused" for s in refusals)
    assert {key for key, _ in records} == {REFUSED_KEY, *fleet}, "no key for a made-up server"
    key, last = records[-1]
    assert (key, last.outcome, last.state) == (fleet[0], "applied", "critical")


def test_health_is_degraded_naming_infer_while_windows_get_no_forecasts(
    make_settings: SettingsFactory,
) -> None:
    # Fast simulated time: two steps are well under the three samples (6 s) /health waits.
    settings = make_settings(speed=3000.0, metrics_port_infer=0, batch_deadline_ms=50)
    producer = make_producer(settings)

    def windows(stop: threading.Event) -> None:
        end = datetime(2025, 1, 6, tzinfo=UTC)
        while not stop.wait(0.3):
            end += timedelta(minutes=5)
            for server_id in ("ppdb001", "ppweb001"):
                window = make_window(server_id, end=end)
                producer.produce(settings.topic_windows, key=server_id.encode(),
                                 value=window.to_bytes())
            producer.flush(10)

    flowing = ServiceThread(windows)
    worker: ServiceThread | None = None
    try:
        with api(settings) as (client, _):
            def health() -> dict[str, Any]:
                body: dict[str, Any] = client.get("/health").json()
                return body

            body = wait_until(lambda: (b := health())["status"] == "degraded" and b, 40,
                              "degraded")
            assert client.get("/health").status_code == 200
            assert body["degraded"] == ["infer"], "the stream processor has no input: not it"
            (infer,) = [s for s in body["stages"] if s["stage"] == "infer"]
            assert infer["stalled"] and infer["waiting_s"] > body["stall_after_s"]
            assert infer["input_topic"] == settings.topic_windows

            worker = ServiceThread(lambda stop: run_worker(settings, stop))
            body = wait_until(lambda: (b := health())["status"] == "ok" and b, 60, "ok again")
            assert body["degraded"] == []
            assert not any(s["stalled"] for s in body["stages"])
    finally:
        flowing.shut_down()
        if worker is not None:
            worker.shut_down()
