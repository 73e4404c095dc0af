"""The micro-batcher: collects items until a batch is full or its deadline passes.

The deadline runs on a monotonic clock from the first item of the batch, so
a lone window waits at most ``max_wait_s`` and a burst fills whole batches.
``map_batch`` runs a batch function and insists on one output per input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class BatchMismatchError(RuntimeError):
    pass


class MicroBatcher(Generic[T]):
    def __init__(
        self, max_size: int, max_wait_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_size < 1 or max_wait_s <= 0:
            raise ValueError("max_size must be >= 1 and max_wait_s > 0")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._items: list[T] = []
        self._opened_at: float | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def room(self) -> int:
        return self.max_size - len(self._items)

    def add(self, item: T) -> None:
        if not self._items:
            self._opened_at = self._clock()
        self._items.append(item)

    def time_left(self) -> float:
        """Seconds until the open batch is due; ``max_wait_s`` when empty."""
        if self._opened_at is None:
            return self.max_wait_s
        return max(0.0, self.max_wait_s - (self._clock() - self._opened_at))

    def is_due(self) -> bool:
        return bool(self._items) and (len(self._items) >= self.max_size or self.time_left() == 0)

    def take(self) -> list[T]:
        items, self._items, self._opened_at = self._items, [], None
        return items


def map_batch(fn: Callable[[Sequence[T]], Sequence[R]], items: Sequence[T]) -> list[R]:
    """``fn`` over the whole batch; its outputs must match the inputs one to one."""
    outputs = list(fn(items))
    if len(outputs) != len(items):
        raise BatchMismatchError(f"{len(outputs)} outputs for {len(items)} inputs")
    return outputs
