"""Event-time steps: means, gaps, out-of-order and late events, replays, the 24 h cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.metric_event import MetricEvent
from stream_processors.windowing import (
    WindowConfig,
    add_event,
    new_state,
    pending_events,
    window_of,
)

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # on a 5-minute boundary
CONFIG = WindowConfig(step_seconds=300, context_steps=288, grace_seconds=60)


def event(minute: float, cpu: float = 10.0, server: str = "ppdb001", **extra) -> MetricEvent:
    return MetricEvent(server_id=server, timestamp=T0 + timedelta(minutes=minute), cpu_pct=cpu,
                       **extra)


def feed(state, events, offset_start=0):
    results = []
    for i, e in enumerate(events):
        results.append(add_event(state, e, CONFIG, offset=offset_start + i))
    return results


def test_a_step_closes_only_after_its_end_plus_grace():
    state = new_state("ppdb001")
    results = feed(state, [event(m) for m in range(6)])  # minutes 0..5
    assert all(r.window is None for r in results), "minute 5 is inside the grace of step 0"
    closing = add_event(state, event(6), CONFIG, offset=6)
    assert closing.window is not None and closing.closed_steps == 1
    assert closing.window.end == T0 + timedelta(minutes=5)


def test_step_value_is_the_mean_and_counts_are_kept():
    state = new_state("ppdb001")
    feed(state, [event(0, 10), event(1, 20), event(2, 30), event(4, 40), event(6.5, 99)])
    window = window_of(state, CONFIG)
    assert window.values["cpu_pct"][-1] == pytest.approx(25.0)
    assert window.counts[-1] == 4
    assert window.values["mem_pct"][-1] is None, "a metric never reported stays a gap"
    assert len(window.values["cpu_pct"]) == 288 and window.observed_steps == 1


def test_out_of_order_events_within_grace_count_in_their_step():
    state = new_state("ppdb001")
    results = feed(state, [event(0, 10), event(5.5, 50), event(3, 30)])  # 3 arrives late
    assert all(r.accepted for r in results)
    add_event(state, event(11, 70), CONFIG, offset=10)
    window = window_of(state, CONFIG)
    assert window.values["cpu_pct"][-2:] == [pytest.approx(20.0), pytest.approx(50.0)]


def test_late_event_for_a_closed_step_is_rejected_with_a_reason():
    state = new_state("ppdb001")
    feed(state, [event(0), event(7)])  # closes step 0
    late = add_event(state, event(2), CONFIG, offset=5)
    assert not late.accepted and not late.duplicate
    assert "late event" in late.reason


def test_gaps_stay_gaps():
    state = new_state("ppdb001")
    feed(state, [event(0, 10), event(21, 30)])  # nothing from minute 5 to 20
    window = window_of(state, CONFIG)
    assert window.values["cpu_pct"][-4:] == [10.0, None, None, None]
    assert window.counts[-4:] == [1, 0, 0, 0]
    assert window.end == T0 + timedelta(minutes=20)


def test_context_keeps_only_the_last_288_steps():
    state = new_state("ppdb001")
    feed(state, [event(m * 5, cpu=float(m % 100)) for m in range(300)])
    window = window_of(state, CONFIG)
    assert len(window.counts) == 288 and window.observed_steps == 288
    # The newest event (step 299) holds step 298 open: it closes 60 s into step 299.
    assert window.values["cpu_pct"][-1] == float(297 % 100)


def test_a_jump_longer_than_the_context_resets_to_gaps_without_looping_forever():
    state = new_state("ppdb001")
    feed(state, [event(0), event(60 * 24 * 30)])  # a month of silence
    window = window_of(state, CONFIG)
    assert window.observed_steps == 0 and len(window.counts) == 288


def test_replayed_offsets_are_skipped_as_duplicates():
    state = new_state("ppdb001")
    feed(state, [event(m) for m in range(8)])
    again = add_event(state, event(3), CONFIG, offset=3)
    assert again.duplicate and not again.accepted


def test_state_survives_a_json_round_trip_like_the_changelog():
    state = new_state("ppdb001")
    feed(state, [event(m, cpu=m) for m in range(13)])
    restored = json.loads(json.dumps(state))
    more = [event(m, cpu=m) for m in range(13, 20)]
    feed(state, more, offset_start=13)
    feed(restored, more, offset_start=13)
    assert window_of(state, CONFIG) == window_of(restored, CONFIG)


def test_unknown_server_gets_profile_from_its_prefix():
    assert new_state("ppweb777")["profile"] == "web_api"
    assert new_state("mailhost1")["profile"] == "generic"


def test_a_resent_event_is_rejected_as_a_duplicate_not_averaged_twice():
    state = new_state("ppdb001")
    assert add_event(state, event(0, cpu=10.0), CONFIG).accepted
    again = add_event(state, event(0, cpu=90.0), CONFIG)
    assert not again.accepted and not again.duplicate
    assert "duplicate event" in (again.reason or "")
    assert pending_events(state) == 1


def test_pending_events_count_what_no_window_holds_yet():
    state = new_state("ppdb001")
    results = [add_event(state, event(m), CONFIG) for m in range(0, 12)]
    windowed = sum(r.events_in_closed for r in results)
    assert windowed + pending_events(state) == 12
    assert windowed == 10, "minutes 0-9 are in closed steps; the grace holds 10-11 open"
