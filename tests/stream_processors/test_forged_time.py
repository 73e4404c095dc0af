"""One event dated far ahead cannot silence a server (issue 12, row 5).

Before: an event for ppsrv001 dated now + 399 days was accepted, moved the
server's watermark to then, and every real event after it was dead-lettered
as late: no window, no forecast, for up to 400 days.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.kafka import make_producer
from schemas.dead_letter import DeadLetter
from tests.stream_processors.test_worker import T0, metric, windows_for

pytestmark = pytest.mark.broker
SERVER = "ppsrv001"


def test_an_event_dated_399_days_ahead_is_refused_and_the_server_keeps_its_windows(
    settings, start_worker, read_topic
):
    windows = read_topic(settings, settings.topic_windows)
    dead = read_topic(settings, settings.topic_deadletter)
    start_worker()
    producer = make_producer(settings)

    def send(minutes: range) -> None:
        for m in minutes:
            producer.produce(settings.topic_metrics, key=SERVER.encode(),
                             value=metric(SERVER, m).to_bytes())
        producer.flush(30)

    send(range(0, 12))
    windows.wait_for(lambda ms: len(windows_for(ms, SERVER)) > 0, timeout_s=90)
    forged = metric(SERVER, 12).model_copy(
        update={"timestamp": datetime.now(UTC) + timedelta(days=399)}).to_bytes()
    producer.produce(settings.topic_metrics, key=SERVER.encode(), value=forged)
    send(range(12, 30))

    last_closed_end = T0 + timedelta(minutes=25)  # minute 29's watermark closes through 20-25
    windows.wait_for(lambda ms: any(w.end == last_closed_end for w in windows_for(ms, SERVER)),
                     timeout_s=60)
    dead.poll(2.0)
    letters = [DeadLetter.model_validate_json(m.value()) for m in dead.messages]
    assert len(letters) == 1, "only the forged event was refused, no real one as late"
    assert letters[0].payload() == forged
    assert "ahead of the wall clock" in letters[0].reason
    assert json.loads(letters[0].payload())["server_id"] == SERVER
