"""``fleetcast bench ui``: update latency of concurrent dashboard sessions, and the UI's memory.

It runs the dashboard (``fleetcast ui``) as a child process on an embedded
broker (or the given one), publishes forecasts for ``--servers`` servers at
the live stack's rate (one per server per 5-minute step at ``--speed``), and
opens ``--sessions`` pages in one headless Chromium (Debian's, driven by
Playwright): each is a real dashboard session with its own server-side page,
periodic callback and websocket. Every ``--every`` seconds one more marker server
turns imminent failure, so each change has its own header text ("imminent
failure k"); the latency is from its publish (acknowledged by Kafka) to the
moment each page's header shows it (the page checks every 20 ms). The UI
process's resident memory is sampled throughout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MARKERS = "ppsrv9{:02d}"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--no-first-run",
                 # Twenty tabs in one browser: keep the ones not in front running at full speed.
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]


@dataclass
class BenchResult:
    sessions: int
    servers: int
    flips: int
    latencies_ms: list[float]
    missed: int
    rss_peak_mb: float
    rss_end_mb: float
    forecasts_per_s: float

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        quantile = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else None

        return {
            **{k: v for k, v in asdict(self).items() if k != "latencies_ms"},
            "latency_ms_median": round(statistics.median(lat), 1) if lat else None,
            "latency_ms_p95": round(quantile(0.95), 1) if quantile else None,
            "latency_ms_max": round(lat[-1], 1) if lat else None,
            "within_1s": sum(1 for v in lat if v <= 1000) / len(lat) if lat else 0.0,
        }


class Forecasts:
    """Full-size forecasts (7 metrics x 96 steps of p10/p50/p90), as the worker publishes them,
    serialised from one validated template (a pydantic model per message would make the
    load generator, not the dashboard, the bottleneck)."""

    def __init__(self) -> None:
        from schemas.common import METRICS
        from schemas.forecast import Forecast, MetricForecast

        path = [40.0 + 0.1 * h for h in range(96)]
        start = datetime(2026, 1, 5, tzinfo=UTC)
        self.template = Forecast(
            forecast_id=Forecast.make_id("ppsrv001", start), server_id="ppsrv001",
            profile="generic", model_version="bench", issued_at=start, start=start,
            step_seconds=300, horizon_steps=96, status="ok", context_steps=288,
            min_context_steps=36, last_values=dict.fromkeys(METRICS, 40.0),
            quantiles={name: MetricForecast(p10=[v - 5 for v in path], p50=path,
                                            p90=[v + 5 for v in path]) for name in METRICS},
            risk_score=10.0, severity="healthy", risk_metric="cpu_pct", predicted_breach_at=None,
        ).model_dump(mode="json")

    def encode(self, server_id: str, risk: float, start: datetime) -> bytes:
        from schemas.forecast import Forecast
        from schemas.profiles import profile_for
        from schemas.severity import severity_for

        return json.dumps(self.template | {
            "forecast_id": Forecast.make_id(server_id, start), "server_id": server_id,
            "profile": profile_for(server_id), "start": start.isoformat(),
            "issued_at": datetime.now(UTC).isoformat(), "risk_score": risk,
            "severity": severity_for(risk),
        }).encode()


def fleet_ids(servers: int) -> list[str]:
    from schemas.profiles import PROFILES, server_name

    profiles = list(PROFILES)
    return [server_name(profiles[i % len(profiles)], i // len(profiles) + 1)
            for i in range(servers)]


#: In each page: note when the header first shows ``window.__want`` (Panel renders into
#: shadow roots, so the header is searched through them).
_WATCH = """() => {
  const find = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('fc-bar') && el.textContent.includes('firing'))
        return el;
      if (el.shadowRoot) { const hit = find(el.shadowRoot); if (hit) return hit; }
    }
    return null;
  };
  window.__seen = null;
  setInterval(() => {
    if (window.__want && window.__seen === null) {
      if (!window.__header || !window.__header.isConnected) window.__header = find(document);
      if (window.__header && window.__header.textContent.includes(window.__want))
        window.__seen = Date.now();
    }
  }, 20);
}"""


def run_bench(args: argparse.Namespace, pages: list[Any], publish: Callable[..., None],
              rss: Callable[[], float]) -> BenchResult:
    """Per flip: a step of fleet forecasts with the marker flip in the middle; each page's
    latency is flip publish -> its header showing the flip."""
    for page in pages:
        page.evaluate(_WATCH)
    latencies: list[float] = []
    missed, peak, published = 0, rss(), 0
    ids = fleet_ids(args.servers)
    rate = len(ids) * args.speed / 300  # one forecast per server per 5-minute step
    start = datetime(2026, 1, 5, tzinfo=UTC)
    began = time.monotonic()
    for flip in range(args.flips):
        start += timedelta(minutes=5)
        want = f"imminent failure {flip + 1}"
        for page in pages:
            page.evaluate("(want) => { window.__want = want; window.__seen = null; }", want)
        step_began = time.monotonic()
        flipped_ms: float | None = None
        cursor = 0
        while time.monotonic() < step_began + args.every:
            due = min(len(ids), int(rate * (time.monotonic() - step_began)))
            if due > cursor:
                publish([(sid, 10.0 + (hash((sid, flip)) % 40), start)
                         for sid in ids[cursor:due]], wait=False)
                published += due - cursor
                cursor = due
            if flipped_ms is None and time.monotonic() >= step_began + args.every / 3:
                publish([(MARKERS.format(flip), 95.0, start)], wait=True)
                flipped_ms = time.time() * 1000
            peak = max(peak, rss())
            time.sleep(0.01)
        seen = [page.evaluate("() => window.__seen") for page in pages]
        assert flipped_ms is not None
        latencies.extend(t - flipped_ms for t in seen if t is not None)
        missed += sum(1 for t in seen if t is None)
    elapsed = time.monotonic() - began
    return BenchResult(args.sessions, args.servers, args.flips, latencies, missed, peak,
                       rss(), published / elapsed)


def bench_ui(args: argparse.Namespace) -> int:
    import subprocess

    import psutil
    from playwright.sync_api import sync_playwright

    from core.broker import EmbeddedBroker, free_port, wait_for_port
    from core.kafka import ensure_topics, make_producer
    from core.runtime import terminate
    from core.settings import Settings
    from fleetcast.stack import child_env
    from schemas.topics import TOPICS

    broker = None if args.bootstrap else EmbeddedBroker(port=free_port()).start()
    bootstrap = args.bootstrap or (broker.bootstrap if broker else "")
    tag = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {"kafka_bootstrap_servers": bootstrap, "ui_port": free_port()}
    fields |= {f"topic_{spec.role}": f"bench-{tag}.{spec.role}" for spec in TOPICS}
    settings = Settings(**fields)
    ensure_topics(settings)
    producer = make_producer(settings)
    forecasts = Forecasts()

    def publish(rows: list[tuple[str, float, datetime]], wait: bool) -> None:
        for sid, risk, start in rows:
            producer.produce(settings.topic_forecasts, key=sid.encode(),
                             value=forecasts.encode(sid, risk, start))
        if wait:
            producer.flush(10)
        else:
            producer.poll(0)

    # The whole fleet before the dashboard starts: it rebuilds its view from the topics.
    publish([(sid, 10.0, datetime(2026, 1, 5, tzinfo=UTC)) for sid in fleet_ids(args.servers)],
            wait=True)
    ui = subprocess.Popen([sys.executable, "-m", "fleetcast.cli", "ui"], env=child_env(settings))
    try:
        wait_for_port(settings.ui_host, settings.ui_port, timeout_s=120)
        process = psutil.Process(ui.pid)

        def rss() -> float:
            return float(process.memory_info().rss) / 2**20

        url = f"http://{settings.ui_host}:{settings.ui_port}/"
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = [browser.new_page() for _ in range(args.sessions)]
            for page in pages:
                page.goto(url)
                page.get_by_text("firing alert").first.wait_for(timeout=60_000)
            time.sleep(args.warmup)
            result = run_bench(args, pages, publish, rss)
            browser.close()
    finally:
        terminate(ui, timeout_s=10)
        if broker is not None:
            broker.stop()
    print(json.dumps(result.summary(), indent=2))
    return 0 if result.latencies_ms else 1


def add_ui_bench(kinds: Any) -> None:
    """``fleetcast bench ui`` on the subparsers of ``fleetcast bench``."""
    ui = kinds.add_parser("ui", help="Dashboard update latency and memory under sessions.",
                          description=sys.modules[__name__].__doc__)
    ui.set_defaults(bench_handler=bench_ui)
    ui.add_argument("--sessions", type=int, default=20, help="Concurrent dashboard sessions.")
    ui.add_argument("--servers", type=int, default=1000, help="Fleet size.")
    ui.add_argument("--flips", type=int, default=12, help="Marker changes to time.")
    ui.add_argument("--every", type=float, default=3.0, help="Seconds between marker changes.")
    ui.add_argument("--speed", type=float, default=120.0,
                    help="Simulated seconds per real second for the background forecasts.")
    ui.add_argument("--warmup", type=float, default=10.0, help="Seconds before measuring.")
    ui.add_argument("--bootstrap", help="Kafka bootstrap servers (default: an embedded broker).")
