"""The windowing agent's acknowledgements, through Faust's ``agent.test_context()`` (no broker).

An event is acked only once the state holding it was written to the changelog (when one of the
server's steps closes) and the window sent, so a crash before that replays it; a rejected event
is acked at once, after its dead letter was sent. The
output topics are stand-ins that record what was sent; the input is Faust's own test stream.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import pytest

from core.settings import Settings
from schemas.context_window import ContextWindow
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from stream_processors import agents, topics
from stream_processors.stats import ProcessStats


class RecordingTopic:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def send(self, key: bytes | None = None, value: bytes | None = None) -> None:
        assert value is not None
        self.values.append(value)


@pytest.fixture
def windower(tmp_path) -> tuple[Any, topics.Topics, ProcessStats]:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", state_dir=str(tmp_path))
    app = faust.App("test-acks", broker="kafka://127.0.0.1:1", store="memory://",
                    autodiscover=False, web_enabled=False)
    declared = topics.declare(app, settings)
    out = topics.Topics(metrics=declared.metrics, windows=RecordingTopic(),  # type: ignore[arg-type]
                        deadletter=RecordingTopic())  # type: ignore[arg-type]
    stats = ProcessStats()
    agents.register(app, settings, out, {}, stats)  # type: ignore[arg-type]
    return app.agents["windower"], out, stats


def event(at: datetime, cpu: float = 10.0) -> bytes:
    return MetricEvent(server_id="ppdb001", timestamp=at, cpu_pct=cpu).to_bytes()


def test_events_are_acked_when_their_step_closes_and_rejects_at_once(windower) -> None:
    agent, out, stats = windower
    asyncio.run(feed(agent, out))
    assert (stats.consumed, stats.accepted, stats.windows, stats.dead_letters) == (4, 3, 1, 1)
    assert stats.pending_events() == 1  # the closing event waits in its open step


async def feed(agent: Any, out: Any) -> None:
    t0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    t0 -= timedelta(minutes=t0.minute % 5)
    async with agent.test_context() as running:
        first = await running.put(event(t0), key=b"ppdb001")
        second = await running.put(event(t0 + timedelta(minutes=2)), key=b"ppdb001")
        assert not first.message.acked and not second.message.acked  # the step is still open
        assert out.windows.values == []

        closing = await running.put(event(t0 + timedelta(minutes=7)), key=b"ppdb001")
        assert first.message.acked and second.message.acked  # window sent, then acked
        # The state written to the changelog at the close holds its open step too.
        assert closing.message.acked
        [window] = [ContextWindow.model_validate_json(v) for v in out.windows.values]
        assert window.server_id == "ppdb001" and window.values["cpu_pct"][-1] == 10.0

        bad = await running.put(b"not json", key=b"ppdb001")
        assert bad.message.acked
        [letter] = [DeadLetter.model_validate_json(v) for v in out.deadletter.values]
        assert letter.stage == "process" and "invalid metric event" in letter.reason
