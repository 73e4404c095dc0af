"""Every way a metric message can be bad yields a readable reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.metric_event import MAX_EVENT_BYTES
from stream_processors.decoding import InputRejectedError, decode_metric_event

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
