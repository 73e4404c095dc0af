"""The stack the stack benches run: fleetcast services as child processes on a fresh
embedded broker, each logging to ``<log_dir>/<name>.log``.

A name may carry a ``#suffix`` to start the same service more than once
(``process#0``, ``process#1``: Faust workers in one group).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psutil

from core.broker import EmbeddedBroker, free_port
from core.kafka import ensure_topics
from core.runtime import terminate
from core.settings import Settings
from fleetcast.bench.seeding import seed_history
from fleetcast.stack import child_env


class ChildService:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.kind = name.partition("#")[0]
        self._log: IO[bytes] = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-m", "fleetcast.cli", self.kind],
                                        env=env, stdout=self._log, stderr=self._log)
        self._handle = psutil.Process(self.process.pid)

    def rss_mb(self) -> float:
        return self._handle.memory_info().rss / 2**20 if self.alive() else 0.0

    def cpu_s(self) -> float:
        if not self.alive():
            return 0.0
        times = self._handle.cpu_times()
        return float(times.user + times.system)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        terminate(self.process, timeout_s=15)
        self._log.close()


@contextmanager
def bench_stack(settings: Settings, names: Sequence[str], log_dir: Path, *,
                history_hours: float = 0.0) -> Iterator[tuple[Settings, list[ChildService]]]:
    """Start ``names`` on a new embedded broker; yields the settings that reach it.

    ``history_hours``: every server's closed history seeded first (``seeding.py``).
    """
    with EmbeddedBroker(port=free_port()) as broker:
        settings = Settings(**{**settings.model_dump(),
                               "kafka_bootstrap_servers": broker.bootstrap,
                               "state_dir": str(log_dir / "state")})
        ensure_topics(settings)
        seed_history(settings, history_hours)
        env = child_env(settings)
        services: list[ChildService] = []
        try:
            for name in names:
                services.append(ChildService(name, env, log_dir))
            yield settings, services
        finally:
            for service in reversed(services):
                service.stop()
