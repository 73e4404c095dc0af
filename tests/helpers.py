"""Test helpers that read topics with a plain external consumer, as any client would."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Message

from core.kafka import make_consumer
from core.settings import Settings


class TopicReader:
    """Reads a topic from the beginning with its own consumer group."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._consumer = make_consumer(settings, f"reader-{uuid.uuid4().hex[:8]}")
        self._consumer.subscribe([topic])
        self.messages: list[Message] = []

    def poll(self, timeout_s: float = 0.5) -> list[Message]:
        fresh = [
            m for m in self._consumer.consume(num_messages=1000, timeout=timeout_s)
            if m.error() is None
        ]
        self.messages.extend(fresh)
        return fresh

    def wait_for(
        self, predicate: Callable[[list[Message]], bool], timeout_s: float
    ) -> list[Message]:
        """Poll until ``predicate(all messages so far)`` holds; fails the test on time-out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.poll(0.5)
            if predicate(self.messages):
                return self.messages
        raise AssertionError(
            f"condition not met within {timeout_s} s; {len(self.messages)} messages seen"
        )

    def close(self) -> None:
        self._consumer.close()


class ServiceProcess:
    """A ``fleetcast <command>`` child process configured by ``settings`` through its env."""

    def __init__(self, settings: Settings, *command: str, log_path: str | None = None) -> None:
        import subprocess
        import sys

        from fleetcast.stack import child_env

        self.command = command
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fleetcast.cli", *command],
            env=child_env(settings), stdout=self._log, stderr=self._log,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit, like a crashed host."""
        if self.alive():
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except Exception:
                self.process.kill()
                self.process.wait()
        if hasattr(self._log, "close"):
            self._log.close()


class ServiceThread:
    """Runs ``target(stop)`` in a thread and remembers its exception, so a test fails on it."""

    def __init__(self, target: Callable[[threading.Event], object]) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._target = target
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self._target(self.stop)
        except BaseException as exc:
            self.error = exc
            raise

    def shut_down(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the service did not stop"
        assert self.error is None, f"the service failed: {self.error!r}"
