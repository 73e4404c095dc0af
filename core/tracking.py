"""A cap on the servers one consumer keeps state for, evicting the longest silent.

A flood of made-up server ids (a bug in a producer, or hostile input) must not
grow a table without bound. The stream processor's workers (their windows
state) and the UI's read model (its forecasts and histories) each track at
most ``cap`` servers. When a new one arrives at the cap, the server heard from
least recently is evicted if nothing has arrived from it for
``silent_after_s``; otherwise the newcomer is refused (the stream processor
dead-letters its event, the read model counts it). Silent servers are the ones
that have left the fleet; live ones are never evicted to make room.

What "now" is belongs to the caller. The stream processor uses its processing
clock, not event time: partitions are consumed at different paces (a backlog
on one, a live edge on another), so a server an hour behind in event time may
be perfectly alive. The read model uses the wall-clock time each forecast was
issued, so that rebuilding from the start of the topics evicts as it did live.

The order is kept in an ``OrderedDict`` moved on every event, so admission and
eviction are O(1) whatever the fleet size; with times that arrive slightly out
of order (several partitions) the first entry is the least recently heard in
arrival order, close enough for a silence measured in minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Admission:
    admitted: bool
    evict: str | None = None  # the silent server to drop to make room
    reason: str | None = None  # why a newcomer was refused


class ServerTracker:
    def __init__(self, cap: int, silent_after_s: float) -> None:
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.cap = cap
        self.silent_after_s = silent_after_s
        self._last_heard: OrderedDict[str, float] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._last_heard)

    def __contains__(self, server_id: object) -> bool:
        return server_id in self._last_heard

    def seed(self, servers: Iterable[str], now: float) -> None:
        """Servers already in the table after a restart: each counts as heard ``now``."""
        for server_id in servers:
            self.heard(server_id, now)

    def admit(self, server_id: str, now: float) -> Admission:
        """May ``server_id`` get state? Call before ``heard`` for a server not tracked yet."""
        if server_id in self._last_heard or len(self._last_heard) < self.cap:
            return Admission(admitted=True)
        oldest, heard = next(iter(self._last_heard.items()))
        if now - heard >= self.silent_after_s:
            return Admission(admitted=True, evict=oldest)
        return Admission(
            admitted=False,
            reason=(
                f"tracked-server cap of {self.cap} reached and no server has been silent "
                f"for {self.silent_after_s:g} s; {server_id!r} is not tracked"
            ),
        )

    def heard(self, server_id: str, now: float) -> None:
        self._last_heard.pop(server_id, None)
        self._last_heard[server_id] = now

    def forget(self, server_id: str) -> None:
        if self._last_heard.pop(server_id, None) is not None:
            self.evicted += 1
