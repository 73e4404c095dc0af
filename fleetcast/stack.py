"""``fleetcast up``: the whole stack as child processes, on the embedded broker by default.

Each service runs as its own ``fleetcast <service>`` process, exactly as in
docker-compose; a service that dies is restarted with its own back-off and
budget (``fleetcast.supervision``) and said so in the log; Ctrl-C stops
everything, the broker last.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
import uuid
from functools import partial

from core.broker import EmbeddedBroker
from core.kafka import ensure_topics, make_consumer
from core.runtime import stop_on_signals
from core.settings import Settings
from fleetcast.supervision import BrokerWatch, Child, supervise

log = logging.getLogger(__name__)
#: How often the supervision loop looks at every process: the resolution of the back-offs.
_TICK_S = 0.25


def _service(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "fleetcast.cli", name, *args]


def stack_children(*, ui: bool = True, host: bool = True) -> list[Child]:
    """The services of the stack; ``host`` adds this machine as a server beside the simulator."""
    children = [Child(name, _service(name)) for name in ("process", "infer", "produce", "api")]
    if host:
        children.append(Child("host", _service("produce", "--source", "host")))
    if ui:
        children.append(Child("ui", _service("ui")))
    return children


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that hands this process's settings to every child."""
    env = dict(os.environ)
    env["KAFKA_BOOTSTRAP_SERVERS"] = settings.kafka_bootstrap_servers
    for name, value in settings.model_dump(exclude={"kafka_bootstrap_servers"}).items():
        if value is not None:
            plain = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            env[f"FLEETCAST_{name.upper()}"] = str(plain)
    return env


def watch_first_forecast(settings: Settings, started: float, stop: threading.Event) -> None:
    """Log how long the stack took from start to its first published forecast."""
    consumer = make_consumer(settings, f"fleetcast-up-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([settings.topic_forecasts])
    try:
        while not stop.is_set():
            if any(m.error() is None for m in consumer.consume(num_messages=1, timeout=0.5)):
                log.info("first forecast published %.1f s after start", time.monotonic() - started)
                return
    finally:
        consumer.close()


def run_stack(
    settings: Settings, *, embedded: bool, ui: bool = True, host: bool = True
) -> int:
    """Run the stack until Ctrl-C (0), or until the embedded broker cannot be kept up (1)."""
    started = time.monotonic()
    stop = stop_on_signals()
    broker = None
    if embedded:
        broker = EmbeddedBroker(settings.broker_host, settings.broker_port).start()
        settings = Settings(
            **{**settings.model_dump(), "kafka_bootstrap_servers": broker.bootstrap}
        )
        log.info("embedded broker (memory only, for one machine) on %s", broker.bootstrap)
    if settings.api_token is None:
        # Writes (scenario buttons, POST /scenario) need a token; rather than leave them
        # off in a local demo or open to anyone, the stack makes one for this run.
        settings = Settings(**{**settings.model_dump(), "api_token": secrets.token_urlsafe(12)})
        generated_token = True
    else:
        generated_token = False
    ensure_topics(settings)
    children = stack_children(ui=ui, host=host)
    env = child_env(settings)
    for child in children:
        child.start(env, time.monotonic())
    threading.Thread(
        target=watch_first_forecast, args=(settings, started, stop), daemon=True
    ).start()
    print(f"fleetcast is up: Kafka at {settings.kafka_bootstrap_servers}", flush=True)
    if ui:
        print(f"  dashboard  http://{settings.ui_host}:{settings.ui_port}", flush=True)
    print(f"  API        http://{settings.api_host}:{settings.api_port}/docs", flush=True)
    if host:
        print("  this host  publishes its own metrics as one more server (--no-host to skip)",
              flush=True)
    if generated_token and settings.api_token is not None:
        print(f"  operator token for scenario control (UI and POST /scenario): "
              f"{settings.api_token.get_secret_value()}  (set FLEETCAST_API_TOKEN to choose it)",
              flush=True)
    print("  Ctrl-C stops everything.", flush=True)
    watch = None
    if broker is not None:
        watch = BrokerWatch(broker, partial(_start_broker, settings.broker_host,
                                            settings.broker_port))
        watch.policy.started(started)
    try:
        while not stop.wait(_TICK_S):
            now = time.monotonic()
            state = watch.check(now) if watch is not None else "up"
            if state == "gave up":
                return 1
            if state == "went down":
                # Every service would only retry against missing topics: stop them
                # while the broker waits out its back-off.
                for child in reversed(children):
                    child.stop()
            if state == "back":
                _restarted_embedded(settings, children, env, now)
            if state in ("up", "back"):
                for child in children:
                    supervise(child, env, now)
    finally:
        for child in reversed(children):
            child.stop()
        if watch is not None:
            watch.broker.stop()
    return 0


def _start_broker(host: str, port: int) -> EmbeddedBroker:
    return EmbeddedBroker(host, port).start()


def _restarted_embedded(
    settings: Settings, children: list[Child], env: dict[str, str], now: float
) -> None:
    """The embedded broker is back, empty: recreate the topics and start every service again.

    It kept everything in memory: topics, the Faust changelog and the committed
    offsets are gone. Restarting the services (rather than letting them retry
    against missing topics) recreates the topics, and the producers' backfill
    rebuilds each server's 24 h context. Each service starts with a clean
    record: what made one crash (a poison message, say) went with the old
    broker. Durable data needs the Kafka of docker-compose, not this broker.
    """
    ensure_topics(settings)
    for child in children:
        child.fresh_start(env, now)
    log.info("embedded broker back on %s; services restarted; the producers backfill %g h "
             "of context again", settings.kafka_bootstrap_servers, settings.backfill_hours)
