"""How ``fleetcast up`` keeps its processes running: a restart policy per process, never a wait.

Each service and the embedded broker has its own ``RestartPolicy``: one
service's crashes never use up another's budget. The supervision loop looks
at every process in turn and never sleeps on one: a service waiting out its
back-off is a time to restart at, so the others are watched (and restarted)
meanwhile.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

from core.broker import EmbeddedBroker
from core.runtime import terminate

log = logging.getLogger(__name__)

#: Restarts in a row (each after a crash) before a process is given up on: the crash
#: after the last of them ends it.
BUDGET: Final = 5
FIRST_DELAY_S: Final = 1.0
MAX_DELAY_S: Final = 30.0
#: A process that ran this long before it crashed is healthy: its earlier crashes are
#: forgotten. Longer than the whole back-off ladder (1 + 2 + 4 + 8 + 16 s) plus a start-up,
#: so a crash loop never passes for health; short enough that a crash an hour after the
#: last (one poison message, a broker hiccup) starts a fresh budget.
HEALTHY_AFTER_S: Final = 300.0


@dataclass
class RestartPolicy:
    """Exponential back-off with a budget of crashes in a row, forgiven after a healthy run.

    Pure: the caller says when the process started and when it crashed.
    """

    budget: int = BUDGET
    first_delay_s: float = FIRST_DELAY_S
    max_delay_s: float = MAX_DELAY_S
    healthy_after_s: float = HEALTHY_AFTER_S
    crashes: int = 0  # in a row, since the last healthy run
    started_at: float | None = None

    def started(self, now: float) -> None:
        self.started_at = now

    def record_crash(self, now: float) -> None:
        if self.started_at is not None and now - self.started_at >= self.healthy_after_s:
            self.crashes = 0
        self.crashes += 1

    def next_delay(self) -> float | None:
        """Seconds to wait before the next start; None once the budget is spent."""
        if self.crashes > self.budget:
            return None
        if self.crashes == 0:
            return 0.0
        return float(min(self.first_delay_s * 2 ** (self.crashes - 1), self.max_delay_s))


@dataclass
class Child:
    """One service of the stack as a child process, with its own restart policy."""

    name: str
    argv: list[str]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None  # set while a crashed child waits out its back-off
    gave_up: bool = False

    def start(self, env: dict[str, str], now: float) -> None:
        self.process = subprocess.Popen(self.argv, env=env)
        self.policy.started(now)
        self.restart_at = None

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, timeout_s=10)
        self.restart_at = None

    def fresh_start(self, env: dict[str, str], now: float) -> None:
        """Start with a clean record (after the broker came back empty, say)."""
        self.policy = RestartPolicy(self.policy.budget, self.policy.first_delay_s,
                                    self.policy.max_delay_s, self.policy.healthy_after_s)
        self.gave_up = False
        self.start(env, now)


def supervise(child: Child, env: dict[str, str], now: float) -> None:
    """One look at ``child``: note a crash, or restart it once its back-off is over. Never waits."""
    if child.gave_up or child.process is None:
        return
    if child.restart_at is not None:
        if now >= child.restart_at:
            log.info("%s restarting (crash %d of %d in a row)", child.name,
                     child.policy.crashes, child.policy.budget)
            child.start(env, now)
        return
    code = child.process.poll()
    if code is None:
        return
    child.policy.record_crash(now)
    delay = child.policy.next_delay()
    if delay is None:
        child.gave_up = True
        log.error("%s exited with code %s, %d crashes in a row; giving up on it (the rest "
                  "of the stack keeps running)", child.name, code, child.policy.crashes)
        return
    child.restart_at = now + delay
    log.error("%s exited with code %s; restarting in %g s (crash %d of %d in a row; "
              "forgotten after %g s of health)", child.name, code, delay,
              child.policy.crashes, child.policy.budget, child.policy.healthy_after_s)


BrokerState = Literal["up", "went down", "waiting", "back", "gave up"]


@dataclass
class BrokerWatch:
    """The embedded broker with its own restart policy; ``check`` says what the stack must do."""

    broker: EmbeddedBroker
    start_broker: Callable[[], EmbeddedBroker]
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    restart_at: float | None = None
    gave_up: bool = False

    def check(self, now: float) -> BrokerState:
        """``went down``: stop the services; ``waiting``: they stay stopped; ``back``: start
        them again; ``gave up``: the budget is spent and the stack cannot go on."""
        if self.gave_up:
            return "gave up"
        if self.restart_at is None:
            if self.broker.is_running():
                return "up"
            return self._crashed(now, f"exited with code {self.broker.process_returncode()}")
        if now < self.restart_at:
            return "waiting"
        try:
            self.broker = self.start_broker()
        except (TimeoutError, OSError) as exc:
            state = self._crashed(now, f"did not start again: {exc}")
            return "gave up" if state == "gave up" else "waiting"
        self.policy.started(now)
        self.restart_at = None
        return "back"

    def _crashed(self, now: float, what: str) -> BrokerState:
        self.policy.record_crash(now)
        delay = self.policy.next_delay()
        if delay is None:
            self.gave_up = True
            log.error("the embedded broker %s, %d crashes in a row; giving up on it and "
                      "stopping the stack", what, self.policy.crashes)
            return "gave up"
        self.restart_at = now + delay
        log.error("the embedded broker %s; it held its data in memory only, so it restarts "
                  "empty on %s in %g s (crash %d of %d in a row) and every service restarts "
                  "with it", what, self.broker.bootstrap, delay, self.policy.crashes,
                  self.policy.budget)
        return "went down"
