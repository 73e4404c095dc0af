"""The detail view's 24 h line is the window the model saw, fetched on demand and not too often."""

from __future__ import annotations

from datetime import datetime

from schemas.context_window import ContextWindow
from tests.inference_worker.factories import make_window
from tests.ui.factories import STEP, make_forecast
from ui.context_cache import ContextCache
from ui.views.detail import context_lines


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_window_is_fetched_once_per_server_and_refreshed_at_most_every_few_seconds() -> None:
    asked: list[tuple[str, datetime]] = []
    ready: list[int] = []
    clock = Clock()

    def lookup(server: str, end: datetime, issued: datetime) -> ContextWindow:
        asked.append((server, end))
        return make_window(server).model_copy(update={"end": end})

    cache = ContextCache(lookup, lambda: ready.append(1), every_s=10.0, clock=clock,
                         run=lambda job: job())  # inline: no thread in the test
    first = make_forecast("ppdb001", step=0)

    assert cache.window_for(first) is None  # nothing held yet: the lookup starts
    window = cache.window_for(first)
    assert window is not None and window.end == first.start and ready == [1]
    assert asked == [("ppdb001", first.start)]

    newer = make_forecast("ppdb001", step=1)
    assert cache.window_for(newer) is window  # too soon to ask again: the held one
    clock.now = 11.0
    cache.window_for(newer)
    assert asked[-1] == ("ppdb001", newer.start)

    other = make_forecast("ppweb001", step=1)
    assert cache.window_for(other) is None or asked[-1][0] == "ppweb001"
    assert asked[-1] == ("ppweb001", other.start)  # another server: asked at once
    assert cache.window_for(other).server_id == "ppweb001"  # type: ignore[union-attr]


def test_a_failed_lookup_keeps_the_page_alive_and_retries() -> None:
    clock = Clock()
    calls = []

    def broken(server: str, end: datetime, issued: datetime) -> ContextWindow:
        calls.append(server)
        raise RuntimeError("broker away")

    cache = ContextCache(broken, lambda: None, every_s=1.0, clock=clock, run=lambda job: job())
    assert cache.window_for(make_forecast("ppdb001")) is None
    clock.now = 2.0
    assert cache.window_for(make_forecast("ppdb001", step=1)) is None
    assert calls == ["ppdb001", "ppdb001"]


def test_the_lines_are_the_window_s_steps_with_gaps() -> None:
    window = make_window("ppdb001", observed=60)
    times, values = context_lines(window)
    assert len(times) == window.steps and times[-1] == window.end - STEP
    assert len(values["cpu_pct"]) == window.steps
    assert values["cpu_pct"][0] != values["cpu_pct"][0]  # NaN where the window has a gap
    assert context_lines(None)[0] == []
