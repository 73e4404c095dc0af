"""A WebSocket client that never reads is let go by a real ``fleetcast api`` within about
twice the send timeout, so it stops holding a place under the connection cap (issue 12,
row 8). Before, only uvicorn's default keepalive (20 s + 20 s) ended it."""

from __future__ import annotations

import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from core.broker import free_port, wait_for_port
from core.kafka import make_producer
from fleetcast.bench.ws import idle_client
from tests.helpers import ServiceProcess
from tests.ui.factories import make_forecast

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SEND_TIMEOUT_S = 2.0
#: Twice the send timeout, plus the time to fall behind and some slack; uvicorn's default
#: keepalive alone takes 40 s.
LET_GO_WITHIN_S = 20.0


def test_a_client_that_never_reads_frees_its_place_under_the_cap(make_settings, tmp_path):
    settings = make_settings(api_port=free_port(), ws_max_clients=1,
                             ws_send_timeout_s=SEND_TIMEOUT_S)
    api = ServiceProcess(settings, "api", log_path=str(tmp_path / "api.log"))
    producer = make_producer(settings)
    stop = threading.Event()

    def trickle() -> None:  # 20 forecasts a second, steadily: the client falls behind slowly
        step = 0
        while not stop.wait(0.1):
            for _ in range(2):
                step += 1
                producer.produce(settings.topic_forecasts, key=b"ppweb001",
                                 value=make_forecast("ppweb001", step=step).to_bytes())
            producer.poll(0)

    publisher = threading.Thread(target=trickle, daemon=True)
    try:
        wait_for_port("127.0.0.1", settings.api_port, 60)
        url = f"ws://127.0.0.1:{settings.api_port}/ws/forecasts"
        with connect(url, open_timeout=10) as first:  # the feed is live once one arrives
            publisher.start()
            first.recv(timeout=30)
        silent = idle_client("127.0.0.1", settings.api_port, "/ws/forecasts")
        connected = time.monotonic()
        admitted_after = None
        while admitted_after is None and time.monotonic() < connected + LET_GO_WITHIN_S:
            with connect(url, open_timeout=10) as second:
                try:
                    second.recv(timeout=1)
                except ConnectionClosed as closed:  # 1013 while the silent one holds the place
                    assert closed.rcvd is not None and closed.rcvd.code == 1013
                    continue
                admitted_after = time.monotonic() - connected
        assert admitted_after is not None, (
            f"the silent client kept the only place for {LET_GO_WITHIN_S} s")
        assert api.alive()
        silent.close()
    finally:
        stop.set()
        publisher.join(5)
        api.stop()
