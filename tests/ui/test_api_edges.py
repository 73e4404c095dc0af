"""The API's edges (issue 12, item 7): authentication before the body, a body limit, the
server-id pattern and every error answer in the OpenAPI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.settings import Settings
from tests.ui.test_api import (
    AUTH,
    TOKEN,
    RecordingProducer,
    client_for,
    state,  # noqa: F401  (the fixture)
)
from ui.api import create_app
from ui.api_guard import bearer_token
from ui.fleet_state import FleetState
from ui.services import UiServices

LIMIT = 64 * 1024


def _call(app: Any, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """One raw ASGI POST /scenario; returns (status, body chunks the app asked for)."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        body = chunks[asked - 1] if asked <= len(chunks) else b""
        return {"type": "http.request", "body": body, "more_body": asked < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/scenario", "raw_path": b"/scenario",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), asked


@pytest.fixture
def app(state: FleetState) -> Iterator[Any]:  # noqa: F811
    settings = Settings(api_token=TOKEN, topic_control="control")
    yield create_app(settings, UiServices(settings, state=state, producer=RecordingProducer()))


def test_a_write_without_the_token_is_refused_before_its_body_is_read(app):
    huge = [b"x" * 1_000_000] * 300  # 300 MB, as in the issue
    status, asked = _call(app, [(b"content-type", b"application/json")], huge)
    assert status == 401 and asked == 0, "not one chunk of the body was read"
    status, asked = _call(app, [(b"authorization", b"Bearer wrong")], huge)
    assert status == 401 and asked == 0


def test_a_chunked_body_over_the_limit_is_cut_off_at_the_limit(app):
    chunks = [b" " * 16_384] * 1000  # 16 MB in chunks, no Content-Length
    status, asked = _call(app, [(b"authorization", f"Bearer {TOKEN}".encode())], chunks)
    assert status == 413
    assert asked == LIMIT // 16_384 + 1, "reading stopped at the first chunk past 64 KiB"


def test_a_declared_body_over_the_limit_is_413_and_nothing_is_published(state):  # noqa: F811
    producer = RecordingProducer()
    client = client_for(state, producer)
    body = json.dumps({"scenario": "degrading", "servers": ["ppdb001"] * 10_000}).encode()
    assert len(body) > LIMIT
    response = client.post("/scenario", content=body,
                           headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 413 and "65536 bytes" in response.json()["detail"]
    assert producer.sent == []

    def chunked() -> Iterator[bytes]:
        yield body[:40_000]
        yield body[40_000:]

    response = client.post("/scenario", content=chunked(),
                           headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 413
    assert producer.sent == []
    # A body under the limit still goes through.
    ok = client.post("/scenario", json={"scenario": "degrading", "servers": ["ppdb001"]},
                     headers=AUTH)
    assert ok.status_code == 202 and len(producer.sent) == 1


def test_reads_need_no_token_and_are_not_limited(state):  # noqa: F811
    client = client_for(state)
    assert client.get("/fleet").status_code == 200


@pytest.mark.parametrize("bad", ["x%0A", "-x", "a" * 65])
def test_a_path_server_id_off_the_pattern_is_422(state, bad):  # noqa: F811
    assert client_for(state).get(f"/servers/{bad}").status_code == 422


def test_the_openapi_has_the_server_id_pattern_and_every_error_answer(state):  # noqa: F811
    spec = client_for(state).get("/openapi.json").json()
    (param,) = spec["paths"]["/servers/{server_id}"]["get"]["parameters"]
    assert param["schema"]["pattern"].startswith("^[A-Za-z0-9]")
    assert param["schema"]["maxLength"] == 64
    assert {"404", "422"} <= set(spec["paths"]["/servers/{server_id}"]["get"]["responses"])
    scenario = spec["paths"]["/scenario"]["post"]["responses"]
    assert {"202", "400", "401", "403", "413", "422", "503"} <= set(scenario)
    servers = spec["components"]["schemas"]["ScenarioRequest"]["properties"]["servers"]
    assert "pattern" in servers["items"]


@pytest.mark.parametrize("header, token", [
    (None, None), (b"Bearer abc", "abc"), (b"bearer abc ", "abc"), (b"Basic abc", None),
    (b"Bearer ", None), ("Bearer s3crét".encode("latin-1"), "s3crét"),
])
def test_bearer_token_parsing(header, token):
    assert bearer_token(header) == token


def test_a_client_buffer_holds_at_most_its_bytes_then_gives_up():
    from ui.api import ClientBuffer

    async def run() -> list[str | None]:
        buffer = ClientBuffer(max_bytes=10)
        assert buffer.offer("abcd") and buffer.offer("efgh")
        assert buffer.held == 8
        first = await buffer.take()
        assert buffer.offer("ijklmn") and buffer.held == 10
        assert not buffer.offer("x"), "over the budget: the client is to be dropped"
        return [first, await buffer.take()]

    assert asyncio.run(run()) == ["abcd", None]
