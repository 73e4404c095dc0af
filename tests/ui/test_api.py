"""The HTTP API over a FleetState filled directly; the one real publish goes through the broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from core.settings import Settings
from schemas.alert import AlertEvent
from schemas.control_event import ControlEvent
from schemas.forecast import Forecast
from schemas.severity import rank
from tests.conftest import SettingsFactory
from tests.helpers import TopicReader
from tests.ui.conftest import API_TOKEN
from tests.ui.factories import make_alert, make_forecast
from ui.api import create_app
from ui.fleet_state import FleetState
from ui.services import UiServices

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class RecordingProducer:
    """Stands in for a confluent Producer where no broker is needed."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail = fail

    def produce(self, topic: str, value: bytes, **_: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append((topic, value))

    def flush(self, timeout: float = -1) -> int:
        return 0


@pytest.fixture
def state() -> FleetState:
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001", 20.0))
    state.apply_forecast(make_forecast("ppweb001", 85.0, breach_in=timedelta(hours=3)))
    state.apply_alert(make_alert("ppweb001", severity="critical", risk=85.0, minute=1))
    state.apply_alert(make_alert("ppdb001", minute=0))
    state.apply_alert(make_alert("ppdb001", "resolved", severity="healthy", risk=20.0, minute=2))
    return state


@pytest.fixture
def producer() -> RecordingProducer:
    return RecordingProducer()


def client_for(
    state: FleetState, producer: Any = None, api_token: str | None = TOKEN
) -> TestClient:
    settings = Settings(api_token=api_token, topic_control="control")
    services = UiServices(settings, state=state, producer=producer or RecordingProducer())
    return TestClient(create_app(settings, services))


@pytest.fixture
def client(state: FleetState, producer: RecordingProducer) -> TestClient:
    return client_for(state, producer)


def test_health_summarises_the_view(client: TestClient, state: FleetState) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok", "servers": 2, "firing_alerts": 1, "version": state.version, "feed": None,
        # No Kafka feed, no cluster to watch: no stages.
        "degraded": [], "stages": [], "stall_after_s": None,
    }


def test_fleet_lists_servers_highest_risk_first(client: TestClient) -> None:
    rows = client.get("/fleet").json()

    assert [row["server_id"] for row in rows] == ["ppweb001", "ppdb001"]
    assert rows[0]["severity"] == "critical"
    assert rows[0]["breach_in_s"] == 3 * 3600
    assert rows[0]["predicted_breach_at"] is not None


def test_server_detail_has_forecast_and_history(client: TestClient) -> None:
    body = client.get("/servers/ppweb001").json()

    assert body["forecast"]["server_id"] == "ppweb001"
    assert set(body["forecast"]["quantiles"]) >= {"cpu_pct"}
    assert [point["severity"] for point in body["history"]] == ["critical"]


def test_unknown_server_is_404(client: TestClient) -> None:
    response = client.get("/servers/ppdb999")
    assert response.status_code == 404
    assert "ppdb999" in response.json()["detail"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["ppdb001", "ppweb001"]),  # newest first: the resolution came last
        ("?status=firing", ["ppweb001"]),
        ("?status=resolved", ["ppdb001"]),
        ("?severity=critical", ["ppweb001"]),
        ("?status=resolved&severity=critical", []),
        ("?limit=1", ["ppdb001"]),
    ],
)
def test_alerts_filters(client: TestClient, query: str, expected: list[str]) -> None:
    response = client.get(f"/alerts{query}")
    assert response.status_code == 200
    assert [alert["server_id"] for alert in response.json()] == expected


@pytest.mark.parametrize("query", ["?status=open", "?severity=bad", "?limit=0"])
def test_alerts_rejects_unknown_filters(client: TestClient, query: str) -> None:
    assert client.get(f"/alerts{query}").status_code == 422


def test_scenario_without_a_configured_token_is_forbidden(state: FleetState) -> None:
    producer = RecordingProducer()
    client = client_for(state, producer, api_token=None)

    response = client.post("/scenario", json={"scenario": "degrading"}, headers=AUTH)

    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert producer.sent == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        # Non-ASCII must be a 401, not a server error from compare_digest.
        {"Authorization": "Bearer s3crét".encode()},
    ],
)
def test_scenario_needs_the_right_bearer_token(
    client: TestClient, producer: RecordingProducer, headers: dict[str, str | bytes]
) -> None:
    response = client.post("/scenario", json={"scenario": "degrading"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert producer.sent == []


@pytest.mark.parametrize(
    "body",
    [
        {"scenario": "meltdown"},
        {"scenario": "degrading", "servers": ["bad id!"]},
        {"scenario": "degrading", "extra": 1},
        {},
    ],
)
def test_scenario_rejects_invalid_commands(
    client: TestClient, producer: RecordingProducer, body: dict[str, Any]
) -> None:
    assert client.post("/scenario", json=body, headers=AUTH).status_code == 422
    assert producer.sent == []


def test_scenario_publishes_the_command(client: TestClient, producer: RecordingProducer) -> None:
    response = client.post(
        "/scenario", json={"scenario": "memory_leak", "servers": ["ppdb001"]}, headers=AUTH
    )

    assert response.status_code == 202
    assert response.json()["scenario"] == "memory_leak"
    [(topic, value)] = producer.sent
    assert topic == "control"
    assert ControlEvent.model_validate_json(value).servers == ["ppdb001"]


def test_scenario_reports_a_kafka_failure_as_503(state: FleetState) -> None:
    client = client_for(state, RecordingProducer(fail=BufferError("queue full")))
    response = client.post("/scenario", json={"scenario": "healthy"}, headers=AUTH)
    assert response.status_code == 503


def test_openapi_documents_routes_and_the_bearer_scheme(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert spec["paths"]["/scenario"]["post"]["summary"] == "Set a simulator scenario"
    assert all(
        operation.get("summary") for path in spec["paths"].values() for operation in path.values()
    )
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_scenario_for_a_server_never_seen_is_422(
    client: TestClient, producer: RecordingProducer
) -> None:
    response = client.post(
        "/scenario", json={"scenario": "critical", "servers": ["ppdb001", "ppdb999"]},
        headers=AUTH,
    )

    assert response.status_code == 422
    assert "ppdb999" in response.json()["detail"]
    assert producer.sent == []


def test_ws_alerts_pushes_each_alert_event_as_it_arrives(
    client: TestClient, state: FleetState
) -> None:
    with client.websocket_connect("/ws/alerts") as socket:
        state.apply_forecast(make_forecast("ppweb001", 95.0, step=1))  # not on this socket
        state.apply_alert(make_alert("ppweb001", severity="imminent_failure", risk=95.0,
                                     minute=3))

        pushed = AlertEvent.model_validate(socket.receive_json())

    assert (pushed.server_id, pushed.severity, pushed.status) == (
        "ppweb001", "imminent_failure", "firing")


def test_ws_forecasts_pushes_new_forecasts_only(client: TestClient, state: FleetState) -> None:
    with client.websocket_connect("/ws/forecasts") as socket:
        state.apply_forecast(make_forecast("ppdb001", 20.0))  # a duplicate: not new
        state.apply_forecast(make_forecast("ppdb001", 66.0, step=1))

        pushed = Forecast.model_validate(socket.receive_json())

    assert (pushed.server_id, pushed.risk_score) == ("ppdb001", 66.0)


def test_websockets_stop_listening_when_the_client_leaves(
    client: TestClient, state: FleetState
) -> None:
    with client.websocket_connect("/ws/alerts") as socket:
        state.apply_alert(make_alert("ppdb002", minute=5))
        socket.receive_json()
    deadline = time.monotonic() + 10
    while state._listeners and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state._listeners == []


@pytest.mark.broker
def test_scenario_reaches_the_control_topic(
    make_settings: SettingsFactory, make_services: Callable[..., UiServices]
) -> None:
    settings = make_settings(api_token=TOKEN)
    reader = TopicReader(settings, settings.topic_control)
    state = FleetState()
    state.apply_forecast(make_forecast("ppdb001"))
    try:
        client = TestClient(create_app(settings, make_services(settings, state)))  # a real producer

        response = client.post(
            "/scenario", json={"scenario": "disk_fill", "servers": ["ppdb001"]}, headers=AUTH
        )

        assert response.status_code == 202
        messages = reader.wait_for(lambda ms: len(ms) >= 1, timeout_s=15)
        event = ControlEvent.model_validate_json(messages[0].value())
        assert (event.scenario, event.servers) == ("disk_fill", ["ppdb001"])
    finally:
        reader.close()


@pytest.mark.broker
@pytest.mark.slow
def test_ws_pushes_an_alert_after_a_scenario_change(stack: Settings) -> None:
    """On the running stack: POST critical for one server, its alert arrives on the socket."""
    target = "ppweb002"
    with TestClient(create_app(stack)) as client:  # its own feed on the stack's topics
        deadline = time.monotonic() + 120
        while client.get(f"/servers/{target}").status_code == 404:
            assert time.monotonic() < deadline, f"no forecast for {target}"
            time.sleep(0.5)
        with client.websocket_connect("/ws/alerts") as socket:
            response = client.post("/scenario", json={"scenario": "critical",
                                                      "servers": [target]},
                                   headers={"Authorization": f"Bearer {API_TOKEN}"})
            assert response.status_code == 202

            alert = receive_alert_for(socket, target, timeout_s=90)

    assert alert.status == "firing"
    assert rank(alert.severity) >= rank("warning")


def receive_alert_for(socket: Any, server_id: str, timeout_s: float) -> AlertEvent:
    """The first alert on ``socket`` for ``server_id``; fails after ``timeout_s``."""
    with ThreadPoolExecutor(1) as pool:
        deadline = time.monotonic() + timeout_s
        while True:
            future = pool.submit(socket.receive_json)
            try:
                alert = AlertEvent.model_validate(
                    future.result(timeout=max(0.1, deadline - time.monotonic()))
                )
            except FutureTimeout:
                socket.close()
                raise AssertionError(f"no alert for {server_id} within {timeout_s} s") from None
            if alert.server_id == server_id:
                return alert
