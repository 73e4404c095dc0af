"""The HTTP API: the fleet view for other tools, and operator commands behind a bearer token.

Settings, state and producer are dependencies (``Annotated`` aliases, as in
the FastAPI full-stack template) so tests swap them by passing them to
``create_app``; routes stay thin and the logic lives in ``FleetState`` and
``fleetcast.control``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from confluent_kafka import KafkaException, Producer
from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Query,
    Request,
    WebSocket,
    status,
)
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core import __version__, telemetry
from core.control import ControlNotDeliveredError, publish_scenario
from core.settings import Settings
from schemas.alert import AlertEvent, AlertStatus
from schemas.common import ServerId
from schemas.control_event import ControlEvent
from schemas.severity import Severity
from ui.api_guard import WriteGuard
from ui.api_models import FleetRow, Health, ScenarioRequest, Scenarios, ServerDetail
from ui.auth import Verdict, check_token
from ui.feed import FleetFeed
from ui.fleet_state import FleetState, Kind
from ui.services import UiServices

log = logging.getLogger(__name__)

# -- dependencies -----------------------------------------------------------------------------


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_state(request: Request) -> FleetState:
    services: UiServices = request.app.state.services
    return services.state


StateDep = Annotated[FleetState, Depends(get_state)]


def get_producer(request: Request) -> Producer:
    services: UiServices = request.app.state.services
    return services.producer()  # opened on first use: read-only deployments never open one


ProducerDep = Annotated[Producer, Depends(get_producer)]


def get_feed(request: Request) -> FleetFeed | None:
    services: UiServices = request.app.state.services
    return services.feed


FeedDep = Annotated[FleetFeed | None, Depends(get_feed)]


def get_services(request: Request) -> UiServices:
    services: UiServices = request.app.state.services
    return services


ServicesDep = Annotated[UiServices, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False,  # the checks below answer 401/403 with a reason instead
    description="The operator token configured as FLEETCAST_API_TOKEN.",
)


def require_operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Allow writes only with ``Authorization: Bearer <api_token>``; none without a token set."""
    verdict = check_token(settings, credentials.credentials if credentials else None)
    if verdict is Verdict.WRITES_OFF:
        raise HTTPException(status.HTTP_403_FORBIDDEN, verdict.value)
    if verdict is Verdict.REFUSED:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, verdict.value,
                            headers={"WWW-Authenticate": "Bearer"})


OperatorDep = Depends(require_operator)

# -- routes -----------------------------------------------------------------------------------

router = APIRouter()

_ERROR = {"content": {"application/json": {"schema": {
    "type": "object", "properties": {"detail": {}}, "required": ["detail"]}}}}
_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body could not be read as JSON.", **_ERROR},
    401: {"description": "Missing or wrong bearer token (checked before the body is read).",
          **_ERROR},
    403: {"description": "Writes are disabled: no API token is configured.", **_ERROR},
    413: {"description": "The body is longer than FLEETCAST_API_MAX_BODY_BYTES (64 KiB).",
          **_ERROR},
    422: {"description": "An unknown scenario, a bad server id, or a server never seen."},
    503: {"description": "The command could not be handed to Kafka.", **_ERROR},
}


@router.get(
    "/health",
    summary="Liveness, the pipeline's stages and a summary of the view",
    description="Always 200 while the API is up. `status` is `degraded` when a stage has "
    "stopped (for example windows arriving and no forecasts for more than two steps: "
    "`degraded` names `infer`) or the cluster could not be sampled (`kafka`).",
    tags=["status"],
)
def health(state: StateDep, feed: FeedDep, services: ServicesDep) -> Health:
    if feed is None:  # a state handed in (tests): no cluster to watch
        return Health.of(state, feed)
    monitor = services.monitor()
    return Health.of(state, feed, monitor.snapshot(), monitor.stall_after_s)


@router.get(
    "/fleet",
    summary="Every server, highest risk first",
    description="The latest forecast of each server, reduced to its risk and severity.",
    tags=["fleet"],
)
def fleet(state: StateDep) -> list[FleetRow]:
    return [FleetRow.model_validate(row) for row in state.fleet()]


@router.get(
    "/servers/{server_id}",
    summary="One server's latest forecast and severity history",
    responses={404: {"description": "No forecast has been seen for this server.", **_ERROR},
               422: {"description": "Not a server id (the pattern above)."}},
    tags=["fleet"],
)
def server(server_id: ServerId, state: StateDep) -> ServerDetail:
    forecast = state.server(server_id)
    if forecast is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown server {server_id!r}")
    return ServerDetail.model_validate(
        {"forecast": forecast, "history": state.history(server_id)}
    )


@router.get(
    "/alerts",
    summary="Alerts, newest first",
    description="The latest event of each alert episode, optionally filtered.",
    tags=["alerts"],
)
def alerts(
    state: StateDep,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AlertEvent]:
    rows = state.alerts(status=alert_status, severity=severity, limit=limit)
    return [AlertEvent.model_validate(row) for row in rows]


@router.get(
    "/scenarios",
    summary="Scenarios the simulator applied, and the commands it refused",
    description="From the scenarios topic: what the simulator did with each `set_scenario` "
    "command, not what was asked.",
    tags=["control"],
)
def scenarios(state: StateDep) -> Scenarios:
    return Scenarios.of(state.overrides(), state.refusals())


@router.post(
    "/scenario",
    summary="Set a simulator scenario",
    description="Publishes a `set_scenario` command on the control topic; "
    "no servers means the whole fleet. Requires the operator bearer token. Accepted is not "
    "applied: `GET /scenarios` shows what the simulator applied or refused.",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_AUTH_RESPONSES,
    dependencies=[OperatorDep],
    tags=["control"],
)
def scenario(
    body: ScenarioRequest, settings: SettingsDep, producer: ProducerDep, state: StateDep
) -> ControlEvent:
    unknown = [server_id for server_id in body.servers if not state.knows(server_id)]
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown server(s), never seen in a forecast: {', '.join(unknown[:20])}",
        )
    try:
        return publish_scenario(settings, producer, body.scenario, body.servers)
    except (KafkaException, BufferError, ControlNotDeliveredError) as exc:
        log.warning("scenario command not published: %s", exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "could not publish the command"
        ) from exc


class ClientBuffer:
    """What one WebSocket client has not been sent yet, bounded in bytes.

    A client that does not read must not make the API hold everything it is
    owed (100 idle clients once took it from 111 to 1,720 MB): once more than
    ``max_bytes`` wait, ``offer`` says no and the client is disconnected.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0
        self.overflowed = False
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    def offer(self, data: str) -> bool:
        if self.overflowed or self.held + len(data) > self.max_bytes:
            self.overflowed = True
            self._queue.put_nowait("")  # wakes the sender, which then closes
            return False
        self.held += len(data)
        self._queue.put_nowait(data)
        return True

    async def take(self) -> str | None:
        """The next message, or None once the buffer overflowed."""
        data = await self._queue.get()
        if self.overflowed:
            return None
        self.held -= len(data)
        return data


class SharedJson:
    """The JSON text of the payload the feed is handing out now, made once for every client.

    The state tells each listener in turn about one payload object; serialising it
    per client made N copies of every forecast (about 13 KB each) on the feed's
    thread, all held in the client buffers at once. Keeping the payload beside its
    text means an ``is`` check cannot match a different, later object.
    """

    def __init__(self) -> None:
        self._last: tuple[object, str] | None = None

    def __call__(self, payload: Any) -> str:
        last = self._last
        if last is not None and last[0] is payload:
            return last[1]
        data: str = payload.model_dump_json()
        self._last = (payload, data)
        return data


#: Close codes: 1008 policy violation (too slow), 1013 try again later (at the cap).
WS_TOO_SLOW, WS_FULL = 1008, 1013


async def push(websocket: WebSocket, kind: Kind) -> None:
    """Send every ``kind`` payload the view accepts, as JSON text, until the client leaves.

    Bounded per client: at most ``ws_max_clients`` at once (the next is closed
    with 1013), at most ``ws_buffer_bytes`` waiting for it, and each send must
    finish within ``ws_send_timeout_s``; a client that falls behind either way
    is closed with 1008.
    """
    app = websocket.app
    settings: Settings = app.state.settings
    if app.state.ws_clients >= settings.ws_max_clients:
        # Accepted to be closed with a reason: refused at the handshake it would be a bare 403.
        await websocket.accept()
        await websocket.close(code=WS_FULL, reason="too many WebSocket clients")
        return
    app.state.ws_clients += 1
    state: FleetState = app.state.services.state
    loop = asyncio.get_running_loop()
    buffer = ClientBuffer(settings.ws_buffer_bytes)

    def listener(event_kind: Kind, payload: Any) -> None:  # on the feed's thread
        if event_kind == kind:
            loop.call_soon_threadsafe(buffer.offer, app.state.ws_json(payload))

    async def send() -> None:
        while (data := await buffer.take()) is not None:
            await asyncio.wait_for(websocket.send_text(data), settings.ws_send_timeout_s)
        raise TimeoutError(f"over {settings.ws_buffer_bytes} bytes waiting")

    async def receive() -> None:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    stop = state.listen(listener)  # before accepting: nothing after the handshake is missed
    try:
        await websocket.accept()
        tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        for task in done:
            if isinstance(task.exception(), TimeoutError):  # too slow: let it go
                log.info("WebSocket client too slow, disconnected: %s", task.exception())
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(code=WS_TOO_SLOW), 1.0)
    finally:
        stop()
        app.state.ws_clients -= 1


@router.websocket("/ws/alerts", name="alerts stream")
async def ws_alerts(websocket: WebSocket) -> None:
    """Every alert event (firing, escalation, resolution) as it arrives."""
    await push(websocket, "alert")


@router.websocket("/ws/forecasts", name="forecasts stream")
async def ws_forecasts(websocket: WebSocket) -> None:
    """Every new forecast as it arrives."""
    await push(websocket, "forecast")


# -- app --------------------------------------------------------------------------------------


def create_app(settings: Settings, services: UiServices | None = None) -> FastAPI:
    """The API over ``services`` (tests hand in a state); by default a Kafka feed of its own."""
    services = services if services is not None else UiServices.from_kafka(settings)
    feed = services.feed

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if feed is not None:
            feed.start()
            services.monitor()  # sampling from the start: /health compares samples
        yield
        services.close()

    app = FastAPI(
        title="fleetcast",
        version=__version__,
        description=(
            "Forecast-driven view of a server fleet, its alerts and simulator control.\n\n"
            "WebSockets (not listed below, as OpenAPI has no WebSocket operations): "
            "`/ws/alerts` pushes every alert event (the `AlertEvent` schema) and "
            "`/ws/forecasts` every new forecast (the `Forecast` schema) as JSON text, "
            "as they arrive from Kafka."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.ws_clients = 0  # WebSocket clients connected now (changed on the event loop only)
    app.state.ws_json = SharedJson()
    app.include_router(router)
    app.add_middleware(WriteGuard, settings=settings)
    app.add_route("/metrics", telemetry.metrics_endpoint, include_in_schema=False)
    if feed is not None:
        telemetry.watch_feed("api", feed)
    return app


def serve(settings: Settings) -> None:
    """Run the API on ``api_host:api_port`` until interrupted."""
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        # A client that stops reading blocks its send where the send timeout cannot end it;
        # what ends it is uvicorn's keepalive, after ping interval + ping timeout (40 s by
        # default). Tied to the send timeout, a silent client goes within twice that.
        ws_ping_interval=settings.ws_send_timeout_s,
        ws_ping_timeout=settings.ws_send_timeout_s,
    )
