"""``fleetcast bench ws``: what WebSocket clients that never read cost a real ``fleetcast api``.

It runs the API (``fleetcast api``) as a child process on an embedded broker,
publishes full-size forecasts for ``--servers`` servers round and round at
``--rate`` per second and an alert event every second, and samples the API's
resident memory (RSS):

1. ``baseline``: after ``--warmup`` seconds of that traffic with one reading
   client (which stays throughout and shows that the data flows);
2. ``during``: ``--clients`` more clients connect (half on ``/ws/forecasts``,
   half on ``/ws/alerts``), each a raw socket with a 4 KiB receive buffer that
   completes the handshake, offering permessage-deflate as browsers do, and then
   never reads a byte, for ``--hold`` seconds;
3. ``after``: ``--settle`` seconds after they all closed their sockets.

An idle client costs ``(peak during - baseline) / clients``; the goal (issue 12,
row 8) is under 1 MB, and ``after`` back at ``baseline``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

#: The receive buffer of a client that never reads: small, so the API cannot park much in
#: the kernel on its behalf and has to hold (or drop) what the client is owed itself.
IDLE_RCVBUF = 4096
_SAMPLE_EVERY_S = 0.25


@dataclass
class WsBenchResult:
    clients: int
    servers: int
    forecasts_per_s: float
    rss_start_mb: float  # the API once it answers, before any traffic
    rss_baseline_mb: float
    rss_peak_mb: float  # while the idle clients are connected, over all waves
    rss_after_mb: list[float]  # after each wave left
    per_idle_client_mb: float
    idle_clients_disconnected: list[int]  # per wave, sockets ended by the API when they left
    reader_messages: int  # what the one reading client received in all
    reader_closed_by_api: int
    api_cpu_share: float  # the API's CPU seconds per second, over the whole run

    def summary(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def idle_client(host: str, port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and never reads again."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, IDLE_RCVBUF)  # before connect: the window
    sock.settimeout(10)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # one byte at a time: not one byte of a frame read
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError(f"{path}: closed during the handshake")
        head += byte
    status = head.split(b"\r\n", 1)[0]
    if b" 101 " not in status:
        raise ConnectionError(f"{path}: handshake answered {status.decode(errors='replace')}")
    return sock


def closed_by_peer(socks: list[socket.socket], within_s: float = 2.0) -> int:
    """How many the other end has closed: reads what each had queued, looking for the end
    of the stream, all together for at most ``within_s`` (reading an open one for longer
    would only make it a reader)."""
    closed = 0
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + within_s
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                peer = key.fileobj
                assert isinstance(peer, socket.socket)
                try:
                    ended = not peer.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:  # reset
                    ended = True
                if ended:
                    closed += 1
                    selector.unregister(peer)
    return closed


class Reader:
    """One client that reads every forecast, on a thread: the proof that data flows. Should
    the API close it too (a loaded machine), it counts that and connects again."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.messages = 0
        self.closed_by_api = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=30) as client:
                    while not self._stop.is_set():
                        try:
                            client.recv(timeout=0.5)
                            self.messages += 1
                        except TimeoutError:
                            continue
            except ConnectionClosed:
                self.closed_by_api += 1

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


@contextmanager
def traffic(publish: Callable[[int], None], rate: float) -> Iterator[Callable[[], float]]:
    """Call ``publish(n)`` at ``rate`` per second on a thread; yields the rate achieved."""
    stop = threading.Event()
    sent = [0]
    began = time.monotonic()

    def run() -> None:
        while not stop.wait(0.05):
            due = int(rate * (time.monotonic() - began))
            if due > sent[0]:
                publish(due - sent[0])
                sent[0] = due

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield lambda: sent[0] / max(time.monotonic() - began, 1e-9)
    finally:
        stop.set()
        thread.join(10)


def sampled(rss: Callable[[], float], seconds: float, also: Callable[[], object] = lambda: None
            ) -> list[float]:
    """RSS every quarter second for ``seconds``."""
    samples = [rss()]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(_SAMPLE_EVERY_S)
        also()
        samples.append(rss())
    return samples


@dataclass
class Wave:
    peak_mb: float
    hold_end_mb: float
    after_mb: float
    disconnected: int


def wave(host: str, port: int, args: argparse.Namespace, rss: Callable[[], float]) -> Wave:
    """``--clients`` idle clients connect, stay ``--hold`` s, close; RSS ``--settle`` s later."""
    idle = [idle_client(host, port, "/ws/forecasts" if n % 2 else "/ws/alerts")
            for n in range(args.clients)]
    during = sampled(rss, args.hold)
    gone = closed_by_peer(idle)
    for sock in idle:
        with closing(sock):
            pass
    after = sampled(rss, args.settle)
    return Wave(max(during), during[-1], after[-1], gone)


def bench_ws(args: argparse.Namespace) -> int:
    from core.broker import free_port, wait_for_port
    from core.kafka import make_producer
    from core.settings import Settings
    from fleetcast.bench.services import bench_stack
    from fleetcast.bench.ui import Forecasts, fleet_ids
    from schemas.alert import AlertEvent
    from schemas.profiles import profile_for

    ids = fleet_ids(args.servers)
    forecasts = Forecasts()
    start = datetime(2026, 1, 5, tzinfo=UTC)
    base = Settings(api_port=free_port(), ws_max_clients=args.clients + 1)
    with tempfile.TemporaryDirectory(prefix="fleetcast-bench-ws-") as logs, \
            bench_stack(base, ["api"], Path(logs)) as (settings, [api]):
        producer = make_producer(settings)
        cursor = [0]

        def publish(n: int) -> None:
            for _ in range(n):
                i = cursor[0]
                cursor[0] += 1
                sid = ids[i % len(ids)]
                step = start + timedelta(minutes=5 * (i // len(ids)))
                producer.produce(settings.topic_forecasts, key=sid.encode(),
                                 value=forecasts.encode(sid, 10.0 + i % 40, step))
                if i % max(1, int(args.rate)) == 0:  # about one alert a second
                    alert = AlertEvent(
                        alert_id=f"{sid}-{i}", server_id=sid, profile=profile_for(sid),
                        status="firing", severity="warning", risk_score=65.0, metric="cpu_pct",
                        summary=f"{sid} cpu_pct warning", predicted_breach_at=None,
                        issued_at=step, model_version="bench")
                    producer.produce(settings.topic_alerts, key=sid.encode(),
                                     value=alert.to_bytes())
            producer.poll(0)

        host, port = settings.api_host, settings.api_port
        wait_for_port(host, port, timeout_s=120)
        rss_start, cpu_start, began = api.rss_mb(), api.cpu_s(), time.monotonic()
        with traffic(publish, args.rate) as achieved, \
                Reader(f"ws://{host}:{port}/ws/forecasts") as reader:
            baseline = sampled(api.rss_mb, args.warmup)
            waves = [wave(host, port, args, api.rss_mb) for _ in range(args.waves)]
            rate = achieved()
            cpu_share = (api.cpu_s() - cpu_start) / (time.monotonic() - began)
        assert api.alive(), "the API died during the bench"
    # The baseline is the last second of the warm-up, when the view of the fleet is built.
    rss_baseline = max(baseline[-4:])
    peak = max(w.peak_mb for w in waves)
    result = WsBenchResult(
        clients=args.clients, servers=args.servers, forecasts_per_s=rate,
        rss_start_mb=rss_start, rss_baseline_mb=rss_baseline, rss_peak_mb=peak,
        rss_after_mb=[round(w.after_mb, 2) for w in waves],
        per_idle_client_mb=(peak - rss_baseline) / max(args.clients, 1),
        idle_clients_disconnected=[w.disconnected for w in waves],
        reader_messages=reader.messages, reader_closed_by_api=reader.closed_by_api,
        api_cpu_share=cpu_share)
    print(json.dumps(result.summary(), indent=None if args.json else 2), flush=True)
    return 0 if reader.messages else 1


def add_ws_bench(kinds: Any) -> None:
    """``fleetcast bench ws`` on the subparsers of ``fleetcast bench``."""
    ws = kinds.add_parser("ws", help="API memory under WebSocket clients that never read.",
                          description=sys.modules[__name__].__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    ws.set_defaults(bench_handler=bench_ws)
    ws.add_argument("--clients", type=int, default=100, help="Clients that never read.")
    ws.add_argument("--servers", type=int, default=200, help="Servers the forecasts are for.")
    ws.add_argument("--rate", type=float, default=20.0, help="Forecasts published per second.")
    ws.add_argument("--warmup", type=float, default=30.0,
                    help="Seconds of traffic before the baseline.")
    ws.add_argument("--hold", type=float, default=60.0,
                    help="Seconds the idle clients stay connected.")
    ws.add_argument("--settle", type=float, default=15.0,
                    help="Seconds after they leave before the last sample.")
    ws.add_argument("--waves", type=int, default=2,
                    help="Times the idle clients come and go (a leak grows with each).")
    ws.add_argument("--json", action="store_true", help="One JSON line.")
