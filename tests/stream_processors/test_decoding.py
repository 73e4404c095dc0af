"""Every way a metric message can be bad yields a readable reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas.metric_event import MAX_EVENT_BYTES, MetricEvent
from stream_processors.decoding import InputRejectedError, check_not_ahead, decode_metric_event

NOW = datetime(2026, 3, 2, tzinfo=UTC)
GOOD = b'{"schema_version":1,"server_id":"ppdb001","timestamp":"2026-03-02T00:00:00Z","cpu_pct":5}'


def test_good_event_decodes():
    assert decode_metric_event(b"ppdb001", GOOD, now=NOW).cpu_pct == 5


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        (b"ppdb001", None, "empty"),
        (b"ppdb001", b"{not json", "invalid metric event"),
        (b"ppdb001", b"[1,2]", "invalid metric event"),
        (b"ppdb001", b'{"server_id":"ppdb001"}', "timestamp"),
        (b"other", GOOD, "does not match"),
        (b"ppdb001", GOOD.replace(b"2026-03-02", b"2019-03-02"), "days"),
        (b"ppdb001", GOOD[:-1] + b"," + b'"x":"' + b"a" * MAX_EVENT_BYTES + b'"}', "cap"),
    ],
)
def test_bad_messages_are_rejected_with_a_reason(key, value, fragment):
    with pytest.raises(InputRejectedError) as info:
        decode_metric_event(key, value, now=NOW)
    assert fragment in str(info.value)


def test_an_event_without_a_key_is_refused():
    with pytest.raises(InputRejectedError, match="no key"):
        decode_metric_event(None, GOOD, now=NOW)


AHEAD = timedelta(seconds=300)


def _at(when: datetime) -> MetricEvent:
    return MetricEvent(server_id="ppsrv001", timestamp=when, cpu_pct=5.0)


@pytest.mark.parametrize("watermark", [None, (NOW - timedelta(hours=1)).timestamp()])
def test_an_event_far_ahead_of_the_wall_clock_is_refused(watermark):
    with pytest.raises(InputRejectedError, match="ahead of the wall clock"):
        check_not_ahead(_at(NOW + timedelta(days=399)), watermark, NOW, AHEAD)
    with pytest.raises(InputRejectedError, match="301 s ahead"):
        check_not_ahead(_at(NOW + timedelta(seconds=301)), watermark, NOW, AHEAD)
    check_not_ahead(_at(NOW + timedelta(seconds=299)), watermark, NOW, AHEAD)
    check_not_ahead(_at(NOW - timedelta(days=3)), watermark, NOW, AHEAD)  # the past: max_skew's


def test_an_accelerated_timeline_continues_but_cannot_jump():
    """The simulator runs ahead of the wall clock minute by minute; one event cannot leap."""
    watermark = (NOW + timedelta(hours=20)).timestamp()
    check_not_ahead(_at(NOW + timedelta(hours=20, minutes=1)), watermark, NOW, AHEAD)
    with pytest.raises(InputRejectedError, match="ahead"):
        check_not_ahead(_at(NOW + timedelta(hours=20, minutes=6)), watermark, NOW, AHEAD)
