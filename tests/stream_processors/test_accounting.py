"""Every event the Faust worker consumes is accounted for: in a window, a dead letter, or pending.

A known number of messages goes in, good ones mixed with every kind of fault;
what comes out (the events counted in the published windows, plus the dead
letters, plus the events still in open steps) must add up to exactly that.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

import pytest

from core.kafka import make_producer
from schemas.context_window import ContextWindow
from schemas.dead_letter import DeadLetter
from tests.stream_processors.test_worker import T0, metric, windows_for

pytestmark = pytest.mark.broker
SERVERS = ["ppdb001", "ppweb001", "ppml0001"]
MINUTES = 61  # minutes 0-60: steps through minute 54 close, 55-60 stay open (grace)


def _year_off(server: str) -> bytes:
    return json.dumps({"server_id": server, "timestamp": "2019-01-01T00:00:00Z",
                       "cpu_pct": 5}).encode()


def test_consumed_equals_windowed_plus_dead_letters_plus_pending(settings, start_worker,
                                                                 read_topic):
    good = [metric(s, m) for m in range(MINUTES) for s in SERVERS]
    faults: list[tuple[bytes | None, bytes]] = [
        *[(b"ppdb001", b"\x00\xffnot json %d" % i) for i in range(5)],  # garbage bytes
        *[(b"ppdb001", b'{"server_id":"ppdb001","cpu_pct":%d}' % i) for i in range(3)],  # no ts
        *[(b"ppdb001", b"{" + b" " * 5000 + b"}") for _ in range(2)],  # oversized
        (b"ppdb001", b'{"server_id": "' + b"a" * (1 << 20) + b'"}'),  # 1 MiB: issue 12, row 3
        *[(s.encode(), _year_off(s)) for s in SERVERS[:2]],  # years off
        *[(b"someone-else", metric("ppweb001", m).to_bytes()) for m in (1, 2)],  # mis-keyed
        *[(b"ppdb001", metric("ppdb001", m).to_bytes()) for m in (58, 59)],  # resent (open step)
        *[(b"ppweb001", metric("ppweb001", m).to_bytes()) for m in (3, 4)],  # late (step closed)
    ]
    windows = read_topic(settings, settings.topic_windows)
    dead = read_topic(settings, settings.topic_deadletter)
    start_worker()
    producer = make_producer(settings, **{"message.max.bytes": 4_000_000})
    for event in good:
        producer.produce(settings.topic_metrics, key=event.server_id.encode(),
                         value=event.to_bytes())
    for key, value in faults:  # after the good ones, so resends and late events are faults
        producer.produce(settings.topic_metrics, key=key, value=value)
    producer.flush(30)

    last_closed_end = T0 + timedelta(minutes=55)
    windows.wait_for(lambda ms: all(any(w.end == last_closed_end for w in windows_for(ms, s))
                                    for s in SERVERS), timeout_s=90)
    letters = [DeadLetter.model_validate_json(m.value())
               for m in dead.wait_for(lambda ms: len(ms) >= len(faults), timeout_s=60)]
    dead.poll(2.0)
    windows.poll(1.0)

    latest: dict[str, ContextWindow] = {}
    for window in (ContextWindow.model_validate_json(m.value()) for m in windows.messages):
        if window.end >= latest.get(window.server_id, window).end:
            latest[window.server_id] = window
    windowed = sum(sum(w.counts) for w in latest.values())  # < 288 steps: all of each history
    pending = len(SERVERS) * (MINUTES - 55)  # minutes 55-60 wait for their step to close
    assert windowed == len(SERVERS) * 55
    assert len(dead.messages) == len(faults), "one dead letter per fault, no more"
    assert windowed + len(letters) + pending == len(good) + len(faults), "nothing unaccounted"
    # Each letter names its input by SHA-256 (the 1 MiB one keeps only its first 64 KiB).
    assert sorted(letter.payload_sha256 or "" for letter in letters) == sorted(
        hashlib.sha256(v).hexdigest() for _, v in faults)
    reasons = " | ".join(letter.reason for letter in letters)
    for expected in ("invalid metric event", "exceeds", "days from now", "does not match",
                     "duplicate event", "late event"):
        assert expected in reasons


def test_a_flood_of_unknown_servers_is_capped_and_silent_servers_make_room(
    make_settings, start_worker, read_topic
):
    silence_s = 15.0
    settings = make_settings(max_tracked_servers=3, evict_silent_after_s=silence_s)
    windows = read_topic(settings, settings.topic_windows)
    dead = read_topic(settings, settings.topic_deadletter)
    start_worker(settings)
    producer = make_producer(settings)

    def send(server: str, minutes: range) -> None:
        for m in minutes:
            producer.produce(settings.topic_metrics, key=server.encode(),
                             value=metric(server, m).to_bytes())
        producer.flush(30)

    for server in SERVERS:
        send(server, range(0, 11))
    windows.wait_for(lambda ms: len(ms) >= len(SERVERS), timeout_s=90)
    for i in range(40):  # all three servers were heard moments ago: no room
        send(f"flood{i:03d}", range(10, 11))
    letters = [DeadLetter.model_validate_json(m.value())
               for m in dead.wait_for(lambda ms: len(ms) >= 40, timeout_s=60)]
    assert all("cap of 3" in letter.reason for letter in letters)
    assert {json.loads(letter.payload())["server_id"] for letter in letters} == {
        f"flood{i:03d}" for i in range(40)
    }
    # Two servers go on while ppml0001 falls silent...
    quiet_until = time.monotonic() + silence_s + 2
    minute = 11
    while time.monotonic() < quiet_until:
        for server in SERVERS[:2]:
            send(server, range(minute, minute + 1))
        minute += 1
        time.sleep(1.0)
    # ...so a newcomer is admitted in its place and gets windows.
    send("ppapp001", range(minute, minute + 12))
    windows.wait_for(lambda ms: len(windows_for(ms, "ppapp001")) > 0, timeout_s=60)
    dead.poll(1.0)
    assert len(dead.messages) == 40, "the newcomer and the live servers were not refused"
