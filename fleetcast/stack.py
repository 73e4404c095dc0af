"""``fleetcast up``: the whole stack as child processes, on the embedded broker by default.

Each service runs as its own ``fleetcast <service>`` process, exactly as in
docker-compose; a service that dies is restarted (with a back-off) and said
so in the log; Ctrl-C stops everything, the broker last.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field

from core.broker import EmbeddedBroker
from core.kafka import ensure_topics, make_consumer
from core.runtime import stop_on_signals, terminate
from core.settings import Settings

log = logging.getLogger(__name__)
MAX_RESTARTS = 5


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(self.argv, env=env)
        self.started_at = time.monotonic()

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout_s=10)


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


def run_stack(settings: Settings, *, embedded: bool, ui: bool = True, host: bool = True) -> None:
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
        child.start(env)
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
    try:
        while not stop.wait(1.0):
            if broker is not None and not broker.is_running():
                broker = _restart_embedded(broker, settings, children, env)
            for child in children:
                _supervise(child, env)
    finally:
        for child in reversed(children):
            child.stop()
        if broker is not None:
            broker.stop()


def _restart_embedded(
    broker: EmbeddedBroker, settings: Settings, children: list[Child], env: dict[str, str]
) -> EmbeddedBroker:
    """Start the embedded broker again, empty, and every service with it.

    It kept everything in memory: topics, the Faust changelog and the committed
    offsets are gone. Restarting the services (rather than letting them retry
    against missing topics) recreates the topics, and the producers' backfill
    rebuilds each server's 24 h context. Durable data needs the Kafka of
    docker-compose, not this broker.
    """
    log.error("the embedded broker exited (code %s); it held its data in memory only, so "
              "it restarts empty on %s and every service restarts with it; the producers "
              "backfill %g h of context again", broker.process_returncode(), broker.bootstrap,
              settings.backfill_hours)
    for child in reversed(children):
        child.stop()
    fresh = EmbeddedBroker(settings.broker_host, settings.broker_port).start()
    ensure_topics(settings)
    for child in children:
        child.restarts = 0
        child.start(env)
    log.info("embedded broker back on %s; services restarted", fresh.bootstrap)
    return fresh


def _supervise(child: Child, env: dict[str, str]) -> None:
    assert child.process is not None
    code = child.process.poll()
    if code is None:
        return
    if child.restarts >= MAX_RESTARTS:
        if child.restarts == MAX_RESTARTS:
            log.error("%s exited with code %s after %d restarts; giving up on it (the rest "
                      "of the stack keeps running)", child.name, code, MAX_RESTARTS)
            child.restarts += 1  # say it once
        return
    # A child that ran a good while before dying gets a fresh restart budget.
    if time.monotonic() - child.started_at > 300:
        child.restarts = 0
    child.restarts += 1
    log.error("%s exited with code %s; restarting (%d/%d)", child.name, code,
              child.restarts, MAX_RESTARTS)
    time.sleep(min(2**child.restarts, 30))
    child.start(env)
