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

The browsers share the machine with the dashboard, so the latency is not the UI's
alone. Three figures are: the UI process's CPU seconds per second during the timed
part, its pages' periodic redraws per session per second (nominal 1 / 0.3 s) and the
server-side time of one redraw (``fleetcast_ui_tick_seconds``, scraped from the UI's
``/metrics``). ``--renderers N`` puts every page in one browser context with at most N
renderer processes (default: Chromium's one per page), ``--profile FILE`` records the UI
process with py-spy over the timed part (collapsed stacks: speedscope.app or flamegraph.pl
open them) and prints its top frames, and ``--ui-source DIR`` serves the dashboard from
another checkout, so two branches are compared by one harness.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
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
    elapsed_s: float = 0.0
    #: The UI's own load: its CPU seconds, and its metrics' change, over the timed part.
    ui_cpu_s: float = 0.0
    ui_metrics: dict[str, float] = field(default_factory=dict)
    renderers: int = 0
    #: What the browser took meanwhile, on the same cores, and per second while idle.
    browser_cpu_s: float = 0.0
    browser_idle_cpu_per_s: float = 0.0

    def ui_figures(self) -> dict[str, Any]:
        """CPU per second, redraws per session per second and the mean server-side redraw
        time (None where the dashboard serves no ``fleetcast_ui_tick_seconds``)."""
        elapsed = self.elapsed_s or 1.0
        ticks = self.ui_metrics.get("fleetcast_ui_tick_seconds_count")
        tick_s = self.ui_metrics.get("fleetcast_ui_tick_seconds_sum")
        models = self.ui_metrics.get("fleetcast_ui_view_model_seconds_count")
        lags = self.ui_metrics.get("fleetcast_ui_draw_lag_seconds_count")
        lag_s = self.ui_metrics.get("fleetcast_ui_draw_lag_seconds_sum")
        lag_p95 = bucket_quantile(self.ui_metrics, "fleetcast_ui_draw_lag_seconds", 0.95)
        return {
            "ui_cpu_per_s": round(self.ui_cpu_s / elapsed, 2),
            "browser_cpu_per_s": round(self.browser_cpu_s / elapsed, 2),
            "ticks_per_session_s": round(ticks / elapsed / self.sessions, 2) if ticks else None,
            "tick_ms_mean": round(1000 * tick_s / ticks, 2) if ticks and tick_s else None,
            "tick_busy_per_s": round(tick_s / elapsed, 2) if tick_s is not None else None,
            "view_model_parts_per_s": round(models / elapsed, 2) if models is not None else None,
            "draw_lag_ms_mean": round(1000 * lag_s / lags, 1) if lags and lag_s else None,
            "draw_lag_ms_p95_at_most": round(1000 * lag_p95) if lag_p95 is not None else None,
        }

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        quantile = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else None

        return {
            **{k: v for k, v in asdict(self).items() if k not in ("latencies_ms", "ui_metrics")},
            **self.ui_figures(),
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


_LINE = re.compile(r":\d+\)$")
#: Top frames by kind (``self``, ``inclusive``): (function, share of all samples).
Profile = dict[str, list[tuple[str, float]]]


def top_frames(collapsed: Iterable[str], limit: int = 15) -> Profile:
    """py-spy's collapsed stacks (``frame;frame;... count`` per line) -> the functions with
    the most samples on top of the stack (``self``) and anywhere in it (``inclusive``), as
    shares of all samples; frames are merged per function (line numbers dropped)."""
    on_top: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        total += int(count)
        on_top[frames[-1]] += int(count)
        anywhere.update(dict.fromkeys(set(frames), int(count)))
    share = (lambda counts: [(name, round(n / total, 3)) for name, n in
                             counts.most_common(limit)]) if total else (lambda _: [])
    return {"self": share(on_top), "inclusive": share(anywhere)}


#: The UI's own figures in its ``/metrics`` (what the bench subtracts, before from after).
UI_METRICS = ("fleetcast_ui_tick_seconds_count", "fleetcast_ui_tick_seconds_sum",
              "fleetcast_ui_view_model_seconds_count", "fleetcast_ui_view_model_seconds_sum",
              "fleetcast_ui_draw_lag_seconds_count", "fleetcast_ui_draw_lag_seconds_sum",
              "fleetcast_ui_draw_lag_seconds_bucket")


def scrape(url: str) -> dict[str, float]:
    """The UI's own metrics now; empty when they are not served (an older checkout)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {sample.name + (f"{{le={sample.labels['le']}}}" if "le" in sample.labels else ""):
            sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name in UI_METRICS}


def bucket_quantile(metrics: dict[str, float], name: str, q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile ``q`` (None: no samples)."""
    prefix = f"{name}_bucket{{le="
    buckets = sorted((float(key[len(prefix):-1]), count) for key, count in metrics.items()
                     if key.startswith(prefix))
    total = buckets[-1][1] if buckets else 0.0
    return next((bound for bound, count in buckets if count >= q * total), None) if total else None


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
                       rss(), published / elapsed, elapsed)


def open_pages(browser: Any, sessions: int, renderers: int) -> list[Any]:
    """``sessions`` pages: each in its own context (Chromium's default, a renderer process
    each), or with ``renderers`` > 0 all in one context, where Chromium may put pages of one
    site into the same renderer once it has ``renderers`` of them."""
    if renderers <= 0:
        return [browser.new_page() for _ in range(sessions)]
    context = browser.new_context()
    return [context.new_page() for _ in range(sessions)]


def browser_processes() -> tuple[int, float]:
    """This bench's Chromium: its renderer processes, and the CPU seconds of all its
    processes so far."""
    import psutil

    renderers, cpu = 0, 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" not in child.name():
                continue
            renderers += "--type=renderer" in child.cmdline()
            times = child.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:  # gone meanwhile
            continue
    return renderers, cpu


def start_profile(pid: int, path: str) -> Any:
    """py-spy recording ``pid`` into ``path`` (collapsed stacks) until SIGINT."""
    import shutil
    import subprocess
    from pathlib import Path

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "100", "--format",
                             "raw", "--nonblocking", "--output", path],
                            stdout=subprocess.DEVNULL)


def stop_profile(spy: Any, path: str) -> Profile:
    import signal

    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=60)
    with open(path) as collapsed:
        return top_frames(collapsed)


def drive(args: argparse.Namespace, url: str, ui_pid: int, metrics_url: str,
          publish: Callable[..., None]) -> tuple[BenchResult, Profile | None]:
    """Open the sessions, warm up, and time the flips, with the UI's and the browser's
    figures over the timed part (and its profile with ``--profile``)."""
    import psutil
    from playwright.sync_api import sync_playwright

    process = psutil.Process(ui_pid)

    def rss() -> float:
        return float(process.memory_info().rss) / 2**20

    profile = None
    with sync_playwright() as driver:
        limit = [f"--renderer-process-limit={args.renderers}"] if args.renderers > 0 else []
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + limit)
        pages = open_pages(browser, args.sessions, args.renderers)
        for page in pages:
            page.goto(url)
            page.get_by_text("firing alert").first.wait_for(timeout=60_000)
        # Nothing is published during the warm-up: what the browser costs with idle pages.
        _, idle_from = browser_processes()
        time.sleep(args.warmup)
        renderers, browser_cpu = browser_processes()
        spy = start_profile(ui_pid, args.profile) if args.profile else None
        metrics, cpu = scrape(metrics_url), process.cpu_times()
        result = run_bench(args, pages, publish, rss)
        after, cpu_after = scrape(metrics_url), process.cpu_times()
        result.browser_cpu_s = browser_processes()[1] - browser_cpu
        result.browser_idle_cpu_per_s = (browser_cpu - idle_from) / args.warmup
        if spy is not None:
            profile = stop_profile(spy, args.profile)
        result.renderers = renderers
        result.ui_cpu_s = (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system)
        result.ui_metrics = {name: after[name] - metrics.get(name, 0.0) for name in after}
        browser.close()
    return result, profile


def bench_ui(args: argparse.Namespace) -> int:
    import subprocess

    from core.broker import EmbeddedBroker, free_port, wait_for_port
    from core.kafka import ensure_topics, make_producer
    from core.runtime import terminate
    from core.settings import Settings
    from fleetcast.stack import child_env
    from schemas.topics import TOPICS

    broker = None if args.bootstrap else EmbeddedBroker(port=free_port()).start()
    bootstrap = args.bootstrap or (broker.bootstrap if broker else "")
    tag = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {"kafka_bootstrap_servers": bootstrap, "ui_port": free_port(),
                              "metrics_port_ui": free_port()}
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
    env = child_env(settings)
    if args.ui_source:
        env["PYTHONPATH"] = args.ui_source
    ui = subprocess.Popen([sys.executable, "-m", "fleetcast.cli", "ui"], env=env,
                          cwd=args.ui_source or None)
    metrics_url = f"http://{settings.metrics_host}:{settings.metrics_port_ui}/metrics"
    try:
        wait_for_port(settings.ui_host, settings.ui_port, timeout_s=120)
        result, profile = drive(args, f"http://{settings.ui_host}:{settings.ui_port}/", ui.pid,
                                metrics_url, publish)
    finally:
        terminate(ui, timeout_s=10)
        if broker is not None:
            broker.stop()
    print(json.dumps(result.summary(), indent=2))
    if profile is not None:
        print(f"py-spy of the UI process over the timed part ({args.profile}):")
        for kind, frames in profile.items():
            print(f"  top {kind}:")
            for name, share in frames:
                print(f"    {share:6.1%}  {name}")
    return 0 if result.latencies_ms else 1


def in_process_pages(services: Any, sessions: int) -> tuple[list[Any], list[int]]:
    """``sessions`` pages in documents of their own, as the server builds them, sharing the
    process's view model where the dashboard has one (an older checkout builds per page), and
    the bytes of every change each document would send (serialised as the server does)."""
    from bokeh.document import Document
    from bokeh.protocol import Protocol

    from ui.dashboard import FleetPage

    try:
        from ui.views.view_model import ViewModels

        shared = ViewModels(services.state)
        make = lambda: FleetPage(services, shared)  # noqa: E731
    except ImportError:
        make = lambda: FleetPage(services)  # noqa: E731
    protocol, sent = Protocol(), [0]

    def send(event: Any) -> None:
        message = protocol.create("PATCH-DOC", [event])
        sent[0] += len(message.content_json) + sum(len(b.data) for b in message.buffers)

    pages = []
    for _ in range(sessions):
        page, document = make(), Document()
        document.add_root(page.layout.get_root(document))
        document.on_change(send)
        pages.append(page)
    return pages, sent


def bench_ui_in_process(args: argparse.Namespace) -> int:
    """The server side alone: ``--sessions`` pages in one process over a state fed like the
    browser run's (a fleet step every ``--every`` s at ``--speed``, a marker flip in each),
    ticked every 300 ms of simulated time; CPU time of the ticks' draws and of serialising
    what each session would be sent (no browser, broker, feed decoding or socket)."""
    if args.ui_source:  # the dashboard (``ui``) of that checkout, the rest of this one
        if any(name == "ui" or name.startswith("ui.") for name in sys.modules):
            raise SystemExit("--ui-source: ui is imported already")
        sys.path.insert(0, args.ui_source)
    from core.settings import Settings
    from schemas.forecast import Forecast
    from ui.fleet_state import FleetState
    from ui.services import UiServices

    tick_s = 0.3
    forecasts, state = Forecasts(), FleetState(reuse_s=0.25)
    start = datetime(2026, 1, 5, tzinfo=UTC)

    def apply(server_id: str, risk: float, at: datetime) -> None:
        state.apply_forecast(Forecast.model_validate_json(forecasts.encode(server_id, risk, at)))

    ids = fleet_ids(args.servers)
    for server_id in ids:
        apply(server_id, 10.0, start)
    pages, sent = in_process_pages(UiServices(Settings(), state=state), args.sessions)
    per_tick = max(1, round(len(ids) * args.speed / 300 * tick_s))
    ticks, cpu, sent_before = 0, 0.0, sent[0]
    for flip in range(args.flips):
        start += timedelta(minutes=5)
        for tick in range(max(1, round(args.every / tick_s))):
            for server_id in ids[tick * per_tick:(tick + 1) * per_tick]:
                apply(server_id, 10.0 + (hash((server_id, flip)) % 40), start)
            if tick == round(args.every / tick_s / 3):
                apply(MARKERS.format(flip), 95.0, start)
            began = time.thread_time()
            for page in pages:
                page.refresh()
            cpu += time.thread_time() - began
            ticks += 1
    print(json.dumps({
        "sessions": args.sessions, "servers": args.servers, "ticks": ticks,
        "forecasts_per_tick": per_tick,
        "cpu_ms_per_tick": round(1000 * cpu / ticks, 1),
        "cpu_ms_per_session_tick": round(1000 * cpu / ticks / args.sessions, 2),
        "kb_sent_per_session_tick": round((sent[0] - sent_before) / ticks / args.sessions / 1e3,
                                          1),
        "sessions_per_core_at_300ms": int(tick_s / (cpu / ticks / args.sessions)),
    }, indent=2))
    return 0


def add_ui_bench(kinds: Any) -> None:
    """``fleetcast bench ui`` on the subparsers of ``fleetcast bench``."""
    ui = kinds.add_parser("ui", help="Dashboard update latency and memory under sessions.",
                          description=sys.modules[__name__].__doc__)
    ui.set_defaults(bench_handler=lambda args: (bench_ui_in_process if args.in_process
                                                else bench_ui)(args))
    ui.add_argument("--sessions", type=int, default=20, help="Concurrent dashboard sessions.")
    ui.add_argument("--servers", type=int, default=1000, help="Fleet size.")
    ui.add_argument("--flips", type=int, default=12, help="Marker changes to time.")
    ui.add_argument("--every", type=float, default=3.0, help="Seconds between marker changes.")
    ui.add_argument("--speed", type=float, default=120.0,
                    help="Simulated seconds per real second for the background forecasts.")
    ui.add_argument("--warmup", type=float, default=10.0, help="Seconds before measuring.")
    ui.add_argument("--bootstrap", help="Kafka bootstrap servers (default: an embedded broker).")
    ui.add_argument("--renderers", type=int, default=0,
                    help="All pages in one browser context with at most this many renderer "
                         "processes (default 0: a context and renderer per page).")
    ui.add_argument("--profile", metavar="FILE",
                    help="Record the UI process with py-spy over the timed part (collapsed "
                         "stacks) and print its top frames.")
    ui.add_argument("--in-process", action="store_true",
                    help="The server side alone, in this process: the CPU time of the pages' "
                         "redraws per tick and the bytes each session would be sent.")
    ui.add_argument("--ui-source", metavar="DIR",
                    help="Serve the dashboard from this checkout (compare two branches).")
