"""What the UI reads from the cluster itself: pipeline lag and rates, one server's window."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.kafka import commit, make_consumer, make_producer
from core.settings import Settings
from schemas.common import METRICS
from schemas.context_window import ContextWindow
from ui.pipeline_monitor import PipelineMonitor
from ui.windows_lookup import find_window

pytestmark = pytest.mark.broker


def window(server_id: str, end: datetime) -> ContextWindow:
    return ContextWindow(server_id=server_id, profile="database", end=end, steps=4,
                         values={name: [1.0, 2.0, None, 4.0] for name in METRICS},
                         counts=[1, 1, 0, 1])


def test_monitor_reports_lag_of_the_pipeline_groups(settings: Settings) -> None:
    producer = make_producer(settings)
    for i in range(10):
        producer.produce(settings.topic_windows, key=b"ppdb001", value=b"w%d" % i)
        assert producer.flush(10) == 0
    # The inference worker's group has read and committed 4 of the 10.
    consumer = make_consumer(settings, settings.infer_group_id)
    consumer.subscribe([settings.topic_windows])
    seen = 0
    while seen < 4:
        seen += len([m for m in consumer.consume(num_messages=4 - seen, timeout=1.0)
                     if m.error() is None])
    commit(consumer)
    consumer.close()
    monitor = PipelineMonitor(settings, every_s=0.2).start()
    try:
        deadline = time.monotonic() + 20
        while not monitor.snapshot().lags and time.monotonic() < deadline:
            time.sleep(0.1)
        snapshot = monitor.snapshot()
    finally:
        monitor.stop()

    lags = {lag.role: lag for lag in snapshot.lags}
    assert (lags["inference worker"].end, lags["inference worker"].lag) == (10, 6)
    assert lags["stream processor"].lag is None  # nothing ever committed
    assert snapshot.ends[settings.topic_windows] == 10


def test_find_window_picks_the_servers_window_that_ended_at_the_forecast(
    settings: Settings,
) -> None:
    end = datetime(2026, 1, 5, 12, tzinfo=UTC)
    producer = make_producer(settings)
    for server_id, at in [("ppdb001", end - timedelta(minutes=5)), ("ppdb002", end),
                          ("ppdb001", end), ("ppdb001", end + timedelta(minutes=5))]:
        producer.produce(settings.topic_windows, key=server_id.encode(),
                         value=window(server_id, at).to_bytes())
    assert producer.flush(10) == 0

    found = find_window(settings, "ppdb001", end, datetime.now(UTC))

    assert found is not None
    assert (found.server_id, found.end) == ("ppdb001", end)
    assert find_window(settings, "ppdb404", end, datetime.now(UTC)) is None
