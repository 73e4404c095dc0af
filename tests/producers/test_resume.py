"""A restarted simulator continues from what it published: no minute lost, none sent twice."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from core.control import publish_scenario
from core.kafka import make_producer
from producers.fleet import default_fleet
from producers.resume import MINUTE, plan_start, read_published, trusted_newest
from producers.service import run
from schemas.metric_event import MetricEvent
from schemas.scenario_state import ScenarioState
from tests.conftest import SettingsFactory
from tests.helpers import ServiceThread, TopicReader
from tests.producers.test_service import by_server, live_for_all

NOW = datetime(2024, 6, 3, 10, 0, 30, tzinfo=UTC)
CURRENT = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


def test_a_fresh_start_backfills_up_to_the_current_minute_then_runs_from_now():
    plan = plan_start(NOW, 60, {})
    assert not plan.resumed
    assert (plan.first, plan.backfill_through, plan.clock_start) == (
        CURRENT - 59 * MINUTE, CURRENT, NOW)
    assert plan.backfill_minutes == 60
    assert plan_start(NOW, 0, {}).backfill_minutes == 0


def test_a_resume_ahead_of_the_wall_clock_continues_after_the_newest_minute():
    ahead = CURRENT + timedelta(hours=5)
    # ppdb001's last minute was still in the dead producer's queue.
    plan = plan_start(NOW, 24 * 60, {"ppml0001": ahead, "ppdb001": ahead - MINUTE})
    assert plan.resumed and plan.newest == ahead
    assert plan.clock_start == ahead + MINUTE, "the clock goes on, not back to the wall clock"
    assert (plan.first, plan.backfill_through) == (ahead, ahead + MINUTE)
    sent = [MetricEvent(server_id=sid, timestamp=t, cpu_pct=1.0)
            for t in (ahead, ahead + MINUTE) for sid in ("ppml0001", "ppdb001", "ppweb001")]
    kept = [(e.server_id, e.timestamp) for e in plan.unpublished(sent)]
    # ppweb001 was not seen: nothing up to the newest minute, so nothing it may have.
    assert kept == [("ppdb001", ahead), ("ppml0001", ahead + MINUTE),
                    ("ppdb001", ahead + MINUTE), ("ppweb001", ahead + MINUTE)]


def test_a_resume_behind_the_wall_clock_fills_the_gap_but_never_more_than_the_backfill():
    short = plan_start(NOW, 60, {"ppml0001": CURRENT - 10 * MINUTE})
    assert (short.first, short.backfill_through, short.clock_start) == (
        CURRENT - 9 * MINUTE, CURRENT, NOW)
    long_gone = plan_start(NOW, 60, {"ppml0001": CURRENT - timedelta(days=3)})
    assert long_gone.first == CURRENT - 59 * MINUTE and long_gone.backfill_minutes == 60
    no_backfill = plan_start(NOW, 0, {"ppml0001": CURRENT - timedelta(days=3)})
    assert no_backfill.backfill_minutes == 1 and no_backfill.first == CURRENT


def test_one_forged_future_event_does_not_move_the_resume_point():
    t = CURRENT + timedelta(hours=2)  # the simulator runs ahead of the wall clock (NOW)
    times = {
        "ppml0001": [t - MINUTE, t],
        "ppdb001": [t - MINUTE, t + timedelta(days=399), t],  # forged, then its next minute
        "ppweb001": [t + 9 * MINUTE, t + 10 * MINUTE],  # its partition was delivered ahead
        "ppsrv001": [t + timedelta(days=399)],  # nothing but the forgery
    }
    assert trusted_newest(times, NOW, timedelta(minutes=5)) == {
        "ppml0001": t, "ppdb001": t, "ppweb001": t + 10 * MINUTE}
    # Up to the wall clock is no jump: a producer that was down for a day at speed 1.
    back = {"ppml0001": [CURRENT - timedelta(days=1), CURRENT]}
    assert trusted_newest(back, NOW, timedelta(minutes=5)) == {"ppml0001": CURRENT}
    assert trusted_newest({}, NOW, timedelta(minutes=5)) == {}


@pytest.mark.broker
def test_read_published_finds_each_servers_newest_minute_past_noise(make_settings):
    settings = make_settings()
    fleet = default_fleet(3)
    producer = make_producer(settings)
    for k in range(30):
        for sid in fleet[: 2 if k == 29 else 3]:
            event = MetricEvent(server_id=sid, timestamp=CURRENT + k * MINUTE, cpu_pct=1.0)
            producer.produce(settings.topic_metrics, key=sid.encode(), value=event.to_bytes())
    # Noise after them: another source's server, a key with garbage.
    other = MetricEvent(server_id="pphost01", timestamp=CURRENT + timedelta(days=1), cpu_pct=1.0)
    producer.produce(settings.topic_metrics, key=b"pphost01", value=other.to_bytes())
    producer.produce(settings.topic_metrics, key=fleet[0].encode(), value=b"\xff not json")
    assert producer.flush(10) == 0
    newest = {sid: max(ts) for sid, ts in read_published(settings, fleet).items()}
    assert newest == {fleet[0]: CURRENT + 29 * MINUTE, fleet[1]: CURRENT + 29 * MINUTE,
                      fleet[2]: CURRENT + 28 * MINUTE}
    assert read_published(make_settings(), fleet) == {}, "an empty topic: a fresh start"


def _critical(event: MetricEvent) -> bool:
    return (event.cpu_pct or 0) >= 97 and (event.mem_pct or 0) >= 97


@pytest.mark.broker
def test_a_restarted_producer_continues_its_clock_and_its_scenarios_without_a_gap_or_a_repeat(
    make_settings: SettingsFactory, read_topic: Callable[..., TopicReader]
):
    # At 600x the simulated clock runs far ahead of the (pinned) wall clock, as under
    # `fleetcast up`: a restart from the wall clock would go back hours.
    settings = make_settings(servers=3, speed=600, backfill_hours=0.5)
    fleet = default_fleet(3)
    metrics = read_topic(settings, settings.topic_metrics)
    scenarios = read_topic(settings, settings.topic_scenarios)

    first = ServiceThread(lambda stop: run(settings, stop, start=NOW))
    metrics.wait_for(live_for_all(fleet, CURRENT + 5 * MINUTE), timeout_s=30)
    publish_scenario(settings, make_producer(settings), "critical", ["ppdb001"])
    metrics.wait_for(lambda ms: any(_critical(e) for e in by_server(ms)["ppdb001"]), 30)
    first.shut_down()
    metrics.poll(1.0)
    before = max(e.timestamp for e in by_server(metrics.messages)[fleet[0]])
    went_critical = next(
        ScenarioState.model_validate_json(m.value()) for m in scenarios.poll(1.0)
        if ScenarioState.model_validate_json(m.value()).scenario == "critical")

    second = ServiceThread(lambda stop: run(settings, stop, start=NOW))
    try:
        metrics.wait_for(live_for_all(fleet, before + 10 * MINUTE), timeout_s=30)
    finally:
        second.shut_down()
    events = by_server(metrics.messages)
    for server, server_events in events.items():
        stamps = [e.timestamp for e in server_events]
        assert stamps[0] == CURRENT - 29 * MINUTE, "one backfill, at the first start only"
        assert all(b - a == MINUTE for a, b in itertools.pairwise(stamps)), (
            f"{server}: every minute once, in order, across the restart")
    assert all(_critical(e) for e in events["ppdb001"] if e.timestamp > before), (
        "still critical after the restart, not back to healthy or ramping again")
    assert not any(_critical(e) for e in events["ppml0001"])
    scenarios.poll(1.0)
    announced = [ScenarioState.model_validate_json(m.value()) for m in scenarios.messages]
    last = [r for r in announced if r.server_id == "ppdb001"][-1]
    assert (last.scenario, last.state, last.at) == (None, "critical", went_critical.at), (
        "the restarted simulator announces the scenario in force, since when it held")
