"""The tracked-server cap: bounded state under a flood of unknown server ids."""

from __future__ import annotations

import pytest

from core.tracking import ServerTracker


def test_servers_below_the_cap_are_admitted_without_eviction():
    tracker = ServerTracker(cap=3, silent_after_s=600)
    for i, name in enumerate(["a", "b", "c"]):
        assert tracker.admit(name, now=float(i)).admitted
        tracker.heard(name, now=float(i))
    assert len(tracker) == 3
    assert tracker.admit("a", now=10_000).evict is None, "a tracked server is always admitted"


def test_at_the_cap_the_longest_silent_server_is_evicted():
    tracker = ServerTracker(cap=2, silent_after_s=600)
    tracker.heard("old", now=0.0)
    tracker.heard("live", now=100.0)
    tracker.heard("live", now=700.0)
    admission = tracker.admit("new", now=700.0)  # "old" has been silent for 700 s
    assert admission.admitted and admission.evict == "old"
    tracker.forget("old")
    tracker.heard("new", now=700.0)
    assert "old" not in tracker and len(tracker) == 2 and tracker.evicted == 1


def test_a_flood_of_new_ids_is_refused_while_every_tracked_server_is_live():
    tracker = ServerTracker(cap=2, silent_after_s=600)
    tracker.heard("a", now=1000.0)
    tracker.heard("b", now=1001.0)
    refused = [tracker.admit(f"flood{i}", now=1100.0) for i in range(1000)]
    assert not any(a.admitted for a in refused)
    assert "cap of 2" in (refused[0].reason or "")
    assert len(tracker) == 2, "state stays bounded"


def test_recency_follows_the_latest_event_not_the_first_sight():
    tracker = ServerTracker(cap=2, silent_after_s=600)
    tracker.heard("a", now=0.0)
    tracker.heard("b", now=10.0)
    tracker.heard("a", now=900.0)  # a speaks again; b is now the silent one
    assert tracker.admit("c", now=900.0).evict == "b"


def test_servers_restored_after_a_restart_count_as_just_heard():
    tracker = ServerTracker(cap=2, silent_after_s=600)
    tracker.seed(["x", "y"], now=5000.0)
    assert not tracker.admit("new", now=5100.0).admitted
    assert tracker.admit("new", now=5600.0).evict == "x"


def test_cap_must_be_positive():
    with pytest.raises(ValueError, match="cap"):
        ServerTracker(cap=0, silent_after_s=1)
