"""``fleetcast up``'s restart policy: back-off, a budget per process, forgiveness, the broker."""

from __future__ import annotations

import logging
import sys
import time

import pytest

from core.broker import EmbeddedBroker
from fleetcast.supervision import BrokerWatch, Child, RestartPolicy, supervise

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]
RUN = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_the_back_off_doubles_up_to_its_cap_and_the_budget_runs_out():
    policy = RestartPolicy(budget=7, first_delay_s=1, max_delay_s=30)
    delays = []
    for now in range(8):
        policy.started(now)
        policy.record_crash(now + 0.5)  # a crash loop: every run short
        delays.append(policy.next_delay())
    assert delays == [1, 2, 4, 8, 16, 30, 30, None]


def test_a_healthy_run_forgets_the_crashes_before_it():
    policy = RestartPolicy(budget=3, healthy_after_s=300)
    policy.started(0)
    for now in (1, 2, 3):
        policy.record_crash(now)
        policy.started(now)
    assert policy.next_delay() == 4, "three crashes in a row"
    policy.record_crash(3 + 299)  # ran a little less than healthy_after_s
    assert policy.next_delay() is None
    policy = RestartPolicy(budget=3, healthy_after_s=300)
    policy.started(0)
    for now in (1, 2, 3):
        policy.record_crash(now)
        policy.started(now)
    policy.record_crash(3 + 300)  # ran healthy for 300 s: a first crash again
    assert (policy.crashes, policy.next_delay()) == (1, 1)


def _exited(child: Child) -> None:
    assert child.process is not None
    child.process.wait(10)


def test_one_services_crashes_never_use_another_services_budget_nor_hold_it_up(caplog):
    caplog.set_level(logging.INFO, "fleetcast.supervision")
    crashing = Child("infer", CRASH, RestartPolicy(budget=3))
    steady = Child("produce", RUN, RestartPolicy(budget=3))
    env: dict[str, str] = {}
    now = 0.0
    crashing.start(env, now)
    steady.start(env, now)
    try:
        restarts = []
        while not crashing.gave_up:
            _exited(crashing)
            began = time.monotonic()
            supervise(crashing, env, now)  # notes the crash, starts nothing yet
            supervise(steady, env, now)
            assert time.monotonic() - began < 1, "supervising waits for nothing"
            if crashing.restart_at is not None:
                restarts.append(crashing.restart_at - now)
                supervise(crashing, env, crashing.restart_at - 0.1)
                assert crashing.restart_at is not None, "not before its back-off is over"
                now = crashing.restart_at
                supervise(crashing, env, now)
        assert restarts == [1, 2, 4]
        assert "infer exited with code 3, 4 crashes in a row; giving up on it" in caplog.text
        assert steady.process is not None and steady.process.poll() is None
        assert (steady.policy.crashes, steady.gave_up) == (0, False)

        # While one waits out a long back-off the others are still looked after.
        waiting = Child("api", CRASH, RestartPolicy(first_delay_s=60, max_delay_s=60))
        waiting.start(env, now)
        _exited(waiting)
        supervise(waiting, env, now)
        steady.process.kill()
        steady.process.wait(10)
        supervise(steady, env, now)
        supervise(waiting, env, now + 1)
        supervise(steady, env, now + 1)
        assert waiting.restart_at == now + 60
        assert steady.process.poll() is None, "restarted after its own 1 s"
        assert steady.policy.crashes == 1
    finally:
        steady.stop()
        crashing.stop()


def test_the_embedded_broker_backs_off_too_and_gives_up_after_its_budget(caplog):
    caplog.set_level(logging.ERROR, "fleetcast.supervision")
    attempts: list[float] = []

    def cannot_start() -> EmbeddedBroker:
        attempts.append(1)
        raise TimeoutError("nothing answers on 127.0.0.1:9092 after 20 s")

    dead = EmbeddedBroker()  # never started: not running
    watch = BrokerWatch(dead, cannot_start, RestartPolicy(budget=3))
    watch.policy.started(0)
    assert watch.check(10) == "went down"
    states = []
    now = 10.0
    while watch.restart_at is not None and not watch.gave_up:
        states.append((watch.check(watch.restart_at - 0.1), watch.restart_at - now))
        now = watch.restart_at
        states.append((watch.check(now), None))
    assert states == [("waiting", 1), ("waiting", None), ("waiting", 2), ("waiting", None),
                      ("waiting", 4), ("gave up", None)]
    assert len(attempts) == 3
    assert watch.check(now + 100) == "gave up"
    assert "did not start again: nothing answers" in caplog.text
    assert "giving up on it and stopping the stack" in caplog.text


@pytest.mark.broker
def test_the_embedded_broker_comes_back_after_its_back_off(broker: EmbeddedBroker):
    watch = BrokerWatch(EmbeddedBroker(), lambda: broker)  # the old one is gone; then the real one
    watch.policy.started(0)
    assert watch.check(1) == "went down"
    assert watch.check(1.5) == "waiting"
    assert watch.check(2) == "back"
    assert watch.check(3) == "up" and watch.broker is broker
