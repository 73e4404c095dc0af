"""WebSockets as installed (issue 12, row 7): a real WebSocket client against a real
``fleetcast api`` process receives an alert; over the connection cap it is turned away."""

from __future__ import annotations

import json
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.broker import free_port, wait_for_port
from core.kafka import make_producer
from tests.helpers import ServiceProcess
from tests.ui.factories import make_alert

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_a_real_websocket_client_receives_an_alert_from_a_real_api(make_settings, tmp_path):
    settings = make_settings(api_port=free_port(), ws_max_clients=2)
    api = ServiceProcess(settings, "api", log_path=str(tmp_path / "api.log"))
    try:
        wait_for_port("127.0.0.1", settings.api_port, 60)
        url = f"ws://127.0.0.1:{settings.api_port}/ws/alerts"
        with connect(url, open_timeout=10) as client, connect(url, open_timeout=10):
            with connect(url, open_timeout=10) as third, pytest.raises(ConnectionClosed) as info:
                third.recv(timeout=10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1013, "at the cap"
            alert = make_alert("ppweb001", severity="critical", risk=90.0, minute=1)
            producer = make_producer(settings)
            deadline = time.monotonic() + 60
            got = None
            while got is None and time.monotonic() < deadline:
                # The API's feed joins its group in its own time: resend until one arrives.
                producer.produce(settings.topic_alerts, key=b"ppweb001", value=alert.to_bytes())
                producer.flush(10)
                try:
                    got = json.loads(client.recv(timeout=3))
                except TimeoutError:
                    continue
            assert got is not None and got["alert_id"] == alert.alert_id
        assert api.alive()
    finally:
        api.stop()
