"""A fleet of any size for the benches, from a small simulated pool, one batch at a time.

Simulating ten thousand servers for a day would time the simulator, not the
model; instead 24 simulated servers (every profile, with incidents) over two
days are cut into windows at different origins, and server ``i`` gets pool
server ``i % 24`` at origin ``i // 24``, under a name of its own with the same
profile prefix. Windows are made batch by batch so that the bench's memory,
like the worker's, depends on the batch and not on the fleet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from modelling.alert_quality import server_arrays, window_at
from producers.recording import simulate_history
from schemas.context_window import CONTEXT_STEPS, ContextWindow
from schemas.grid import HORIZON_STEPS

POOL_SERVERS = 24
POOL_DAYS = 2.0
HORIZON = HORIZON_STEPS  # steps kept after every origin, so each window has its actual future


@dataclass(frozen=True)
class Pool:
    seed: int = 11

    @cached_property
    def arrays(self) -> list[tuple[str, pd.DatetimeIndex, np.ndarray]]:
        wide, _ = simulate_history(days=POOL_DAYS, servers=POOL_SERVERS, seed=self.seed)
        return [(server, stamps, values) for server, (stamps, values)
                in server_arrays(wide).items()]

    @property
    def origins(self) -> int:
        """How many distinct window ends each pool server offers."""
        steps = len(self.arrays[0][1])
        return steps - CONTEXT_STEPS - HORIZON

    def origin(self, i: int) -> tuple[str, int]:
        """Pool server and the index of the last step of fleet server ``i``'s window."""
        server, _, _ = self.arrays[i % len(self.arrays)]
        return server, CONTEXT_STEPS - 1 + (i // len(self.arrays)) % self.origins

    def window(self, i: int) -> ContextWindow:
        server, t = self.origin(i)
        _, stamps, values = next(a for a in self.arrays if a[0] == server)
        window = window_at(server, stamps, values, t, CONTEXT_STEPS)
        return window.model_copy(update={"server_id": f"{server}-{i:05d}"})

    def actual(self, i: int) -> np.ndarray:
        """``(metrics, HORIZON)``: what fleet server ``i`` really did after its window."""
        server, t = self.origin(i)
        _, _, values = next(a for a in self.arrays if a[0] == server)
        return values[t + 1 : t + 1 + HORIZON].T

    def batches(self, servers: int, batch: int) -> Iterator[list[ContextWindow]]:
        for start in range(0, servers, batch):
            yield [self.window(i) for i in range(start, min(servers, start + batch))]
