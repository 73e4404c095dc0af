"""The benches' backfill: the history written to the changelog is the one the stream
processor builds from the producer's events, and a window from it has full context."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetcast.bench.seeding import step_means
from producers.simulator import FleetSimulator
from schemas.common import METRICS
from stream_processors.windowing import (
    WindowConfig,
    add_event,
    new_state,
    seeded_state,
    window_of,
)

CONFIG = WindowConfig(step_seconds=300, context_steps=288, grace_seconds=60)
IDS = ["ppdb001", "ppml0001"]
FIRST_STEP = 5_900_000  # a step index: 2026-02-06


def test_seeded_means_are_the_stream_processors_of_the_producers_events() -> None:
    steps = 3
    means = step_means(IDS, seed=7, first_step=FIRST_STEP, steps=steps, step_seconds=300)
    simulator = FleetSimulator(IDS, seed=7, start=datetime.fromtimestamp(FIRST_STEP * 300, UTC))
    states = {sid: new_state(sid) for sid in IDS}
    # Two minutes into the fourth step: the watermark passes the third step's end + grace.
    for events in simulator.step(steps * 5 + 2):
        for event in events:
            add_event(states[event.server_id], event, CONFIG)
    for row, sid in enumerate(IDS):
        state = states[sid]
        assert state["last_closed_step"] == FIRST_STEP + steps - 1
        assert state["counts"] == [5] * steps
        for m, name in enumerate(METRICS):
            assert state["history"][name] == pytest.approx(means[row, m].tolist(), abs=1e-9)


def test_a_seeded_state_gives_a_full_window_and_takes_the_next_steps_events() -> None:
    last = FIRST_STEP + 287
    means = step_means(IDS[:1], seed=7, first_step=FIRST_STEP, steps=288, step_seconds=300)
    history = {name: means[0, m].tolist() for m, name in enumerate(METRICS)}
    state = seeded_state(IDS[0], history, [5] * 288, last, float((last + 1) * 300 - 60))
    assert window_of(state, CONFIG).observed_steps == 288
    live = FleetSimulator(IDS[:1], seed=7, start=datetime.fromtimestamp((last + 1) * 300, UTC))
    (event,) = live.events_at(datetime.fromtimestamp((last + 1) * 300, UTC))
    result = add_event(state, event, CONFIG)
    assert result.accepted and result.window is None, "the next step opens; nothing is late"
    with pytest.raises(ValueError, match="one series per metric"):
        seeded_state(IDS[0], history, [5] * 287, last, 0.0)
