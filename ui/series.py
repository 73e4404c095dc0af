"""A fixed-size time series per server: the bounded store behind the UI's 24 h histories."""

from __future__ import annotations

import numpy as np


class SeriesRing:
    """Rows of float32 columns keyed by increasing epoch seconds, at most ``capacity`` of them.

    Memory is allocated once (``capacity x columns`` floats), so a server costs
    the same after a day as after a minute. Rows arrive in time order; a row for
    the newest time replaces it (a re-scored window).
    """

    def __init__(self, capacity: int, columns: int) -> None:
        self.times = np.zeros(capacity, dtype=np.int64)
        self.values = np.full((capacity, columns), np.nan, dtype=np.float32)
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def put(self, at: int, row: np.ndarray | list[float]) -> None:
        """Append the row at epoch second ``at`` (or replace the newest if ``at`` equals it)."""
        n = self.size
        if n and self.times[n - 1] == at:
            n -= 1
        elif n == self.times.size:
            self._drop(1)
            n -= 1
        self.times[n] = at
        self.values[n] = row
        self.size = n + 1

    def drop_before(self, at: int) -> None:
        """Forget rows older than epoch second ``at``."""
        self._drop(int(np.searchsorted(self.times[: self.size], at, side="left")))

    def _drop(self, count: int) -> None:
        if count <= 0:
            return
        keep = self.size - count
        self.times[:keep] = self.times[count : self.size]
        self.values[:keep] = self.values[count : self.size]
        self.size = keep

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the held times and rows, oldest first."""
        return self.times[: self.size].copy(), self.values[: self.size].copy()
