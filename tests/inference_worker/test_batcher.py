from __future__ import annotations

from collections.abc import Sequence

import pytest

from inference_worker.batcher import BatchMismatchError, MicroBatcher, map_batch


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_closes_on_size(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(3, 10.0, clock=clock)
    batcher.add(1)
    batcher.add(2)
    assert not batcher.is_due()
    assert batcher.room == 1
    batcher.add(3)
    assert batcher.is_due()  # full, though no time has passed
    assert batcher.room == 0
    assert batcher.take() == [1, 2, 3]


def test_closes_on_deadline_from_the_first_item(clock: FakeClock) -> None:
    batcher: MicroBatcher[str] = MicroBatcher(100, 0.25, clock=clock)
    batcher.add("a")
    clock.advance(0.125)
    batcher.add("b")  # a later item does not restart the deadline
    assert not batcher.is_due()
    clock.advance(0.0625)
    assert not batcher.is_due()
    clock.advance(0.0625)  # exactly 0.25 s after the first item
    assert batcher.is_due()
    assert batcher.take() == ["a", "b"]


def test_an_empty_batcher_is_never_due(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(1, 0.1, clock=clock)
    clock.advance(60)
    assert not batcher.is_due()
    assert len(batcher) == 0


def test_time_left(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(10, 0.5, clock=clock)
    assert batcher.time_left() == 0.5  # empty: a whole deadline
    clock.advance(3)
    assert batcher.time_left() == 0.5  # idle time before the first item does not count
    batcher.add(1)
    clock.advance(0.2)
    assert batcher.time_left() == pytest.approx(0.3)
    clock.advance(5)
    assert batcher.time_left() == 0.0  # overdue: zero, never negative


def test_take_resets(clock: FakeClock) -> None:
    batcher: MicroBatcher[int] = MicroBatcher(2, 1.0, clock=clock)
    batcher.add(1)
    clock.advance(2)
    assert batcher.is_due()
    assert batcher.take() == [1]
    assert len(batcher) == 0
    assert batcher.room == 2
    assert not batcher.is_due()
    assert batcher.time_left() == 1.0
    assert batcher.take() == []
    # The next batch gets its own deadline, counted from its own first item.
    batcher.add(2)
    clock.advance(0.5)
    assert batcher.time_left() == pytest.approx(0.5)
    assert not batcher.is_due()


@pytest.mark.parametrize(("size", "wait"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_refuses_a_batcher_that_could_never_close(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        MicroBatcher(size, wait)


def test_map_batch_keeps_order() -> None:
    calls: list[list[int]] = []

    def double(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [2 * i for i in items]

    assert map_batch(double, [3, 1, 2]) == [6, 2, 4]
    assert calls == [[3, 1, 2]]  # one call for the whole batch


@pytest.mark.parametrize("outputs", [[], [1], [1, 2, 3, 4]])
def test_map_batch_refuses_a_length_mismatch(outputs: list[int]) -> None:
    with pytest.raises(BatchMismatchError, match=f"{len(outputs)} outputs for 3 inputs"):
        map_batch(lambda _: outputs, [1, 2, 3])
