from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

from core.settings import Settings
from inference_worker.forecaster import Batch
from inference_worker.service import newest_per_server
from schemas.alert import AlertEvent
from schemas.dead_letter import DeadLetter
from schemas.forecast import Forecast
from schemas.severity import rank
from tests.conftest import SettingsFactory
from tests.helpers import TopicReader
from tests.inference_worker.broker_helpers import (
    WAIT_S,
    Running,
    at_least,
    forecasts_of,
    letters_of,
    publish,
    settle,
    window_message,
)
from tests.inference_worker.factories import STEP, T0, make_window

pytestmark = pytest.mark.broker

HOT = "ppsrv009"
GARBAGE = [b"this is not json", b'{"server_id": "ppsrv001", "profile": "generic"}']


def test_windows_in_forecasts_alerts_and_dead_letters_out_and_offsets_committed(
    make_settings: SettingsFactory,
    start_worker: Callable[..., Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(batch_size=8, batch_deadline_ms=100)
    forecasts = read_topic(settings, settings.topic_forecasts)
    letters = read_topic(settings, settings.topic_deadletter)
    alerts = read_topic(settings, settings.topic_alerts)
    worker = start_worker(settings)

    # 10 servers, two consecutive windows each; one of them pinned at 99 % cpu.
    servers = [f"ppsrv{n:03d}" for n in range(10)]
    windows = [
        window_message(server, step, **({"cpu_pct": 99.0} if server == HOT else {}))
        for step in (0, 1) for server in servers
    ]
    # Garbage among the windows, then garbage alone: the last round has nothing
    # to forecast, only a dead letter to commit past. Each server's second window
    # goes out once its first is forecast: in one batch the older would be superseded.
    publish(settings, [*windows[:5], (b"ppsrv001", GARBAGE[0]), *windows[5:10]])
    forecasts.wait_for(at_least(10), WAIT_S)
    publish(settings, windows[10:])
    forecasts.wait_for(at_least(20), WAIT_S)
    publish(settings, [(None, GARBAGE[1])])
    letters.wait_for(at_least(2), WAIT_S)
    alerts.wait_for(at_least(1), WAIT_S)
    settle(forecasts, letters, alerts)
    assert len(forecasts.messages) == 20
    assert len(letters.messages) == 2
    assert len(alerts.messages) == 1  # the hot server's second window has the same severity

    produced = forecasts_of(forecasts)
    assert len({f.forecast_id for f in produced}) == 20
    assert {f.forecast_id for f in produced} == {
        Forecast.make_id(server, T0 + step * STEP) for server in servers for step in (0, 1)
    }
    assert all(f.status == "ok" for f in produced)
    assert all(f.severity == "healthy" for f in produced if f.server_id != HOT)
    assert all(rank(f.severity) >= rank("danger") for f in produced if f.server_id == HOT)
    # Per server, in the order its windows were published (one partition per key).
    by_server = [f.start for f in produced if f.server_id == "ppsrv003"]
    assert by_server == [T0, T0 + STEP]

    dead = letters_of(letters)
    assert sorted(d.payload() for d in dead) == sorted(GARBAGE)
    for letter in dead:
        assert letter.stage == "infer"
        assert letter.source_topic == settings.topic_windows
        assert letter.reason.startswith("invalid context window: ")
        assert letter.offset is not None
    assert {d.key_b64 for d in dead} == {DeadLetter.encode(b"ppsrv001"), None}

    (message,) = alerts.messages
    alert = AlertEvent.model_validate_json(message.value() or b"")
    assert message.key() == HOT.encode()
    assert (alert.server_id, alert.status, alert.metric) == (HOT, "firing", "cpu_pct")
    assert rank(alert.severity) >= rank("danger")

    stats = dict(worker.worker.stats)
    assert stats.pop("batches") >= 3  # 20 windows in batches of at most 8
    assert stats == {"windows": 22, "forecasts": 20, "superseded": 0, "alerts": 1,
                     "dead_letters": 2, "reloads": 0, "failed_reloads": 0}
    worker.shut_down()

    # A new worker in the same group resumes after the committed offsets: it
    # forecasts only the window published now, and dead-letters nothing again.
    start_worker(settings)
    publish(settings, [window_message("ppsrv000", 2)])
    forecasts.wait_for(at_least(21), WAIT_S)
    settle(forecasts, letters)
    assert len(forecasts.messages) == 21
    assert forecasts_of(forecasts)[-1].forecast_id == Forecast.make_id("ppsrv000", T0 + 2 * STEP)
    assert len(letters.messages) == 2


class Exploding:
    """A forecaster whose model fails on every batch."""

    version = "exploding-1"
    horizon_steps = 96
    min_context_steps = 36

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, batch: Batch) -> np.ndarray:
        self.calls += 1
        raise RuntimeError("model exploded")


def test_a_failing_batch_goes_to_the_dead_letters_whole(
    make_settings: SettingsFactory,
    start_worker: Callable[..., Running],
    read_topic: Callable[[Settings, str], TopicReader],
) -> None:
    settings = make_settings(batch_size=8, batch_deadline_ms=100)
    forecasts = read_topic(settings, settings.topic_forecasts)
    letters = read_topic(settings, settings.topic_deadletter)
    exploding = Exploding()
    worker = start_worker(settings, exploding)

    sent = [window_message(f"ppsrv{n:03d}", 0) for n in range(12)]
    publish(settings, sent)

    letters.wait_for(at_least(12), WAIT_S)
    settle(letters, forecasts)
    assert len(letters.messages) == 12
    assert forecasts.messages == []
    dead = letters_of(letters)
    assert Counter(d.payload() for d in dead) == Counter(value for _, value in sent)
    for letter in dead:
        assert letter.stage == "infer"
        assert letter.reason == "batch failed: RuntimeError: model exploded"
    assert exploding.calls >= 2  # 12 windows, batches of at most 8
    assert worker.worker.stats["dead_letters"] == 12
    assert worker.worker.stats["forecasts"] == 0
    assert worker.thread.is_alive()  # a failed batch does not stop the worker
    worker.shut_down()

    # The dead-lettered windows were committed: a healthy worker does not redo them.
    start_worker(settings)
    publish(settings, [window_message("ppsrv000", 1)])
    forecasts.wait_for(at_least(1), WAIT_S)
    settle(forecasts)
    assert len(forecasts.messages) == 1
    assert forecasts_of(forecasts)[0].forecast_id == Forecast.make_id("ppsrv000", T0 + STEP)


def test_a_backlog_coalesces_to_the_newest_window_per_server() -> None:
    def item(server: str, step: int) -> tuple:
        return (f"{server}-{step}", make_window(server, end=T0 + step * STEP))

    batch = [item("ppdb001", 0), item("ppml0001", 0), item("ppdb001", 2), item("ppdb001", 1)]
    kept = newest_per_server(batch)  # type: ignore[arg-type]
    assert [message for message, _ in kept] == ["ppml0001-0", "ppdb001-2"]
