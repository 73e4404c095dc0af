"""Counters of what the stream processor consumed, produced and rejected."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ProcessStats:
    consumed: int = 0  # messages read from the metrics topic
    accepted: int = 0  # events folded into a server's steps
    duplicates: int = 0  # replays of offsets already in the state (after a restart)
    dead_letters: int = 0  # rejected, each sent to the dead-letter topic
    dead_letter_failures: int = 0  # of those, dead letters the broker did not take
    windows: int = 0  # context windows published
    steps_closed: int = 0
    windowed_events: int = 0  # accepted events that are now inside a published window
    evicted_servers: int = 0  # silent servers dropped at the tracked-server cap
    evicted_events: int = 0  # events of evicted servers' open steps, never windowed

    def pending_events(self) -> int:
        """Accepted events still waiting in open steps.

        The accounting identity: consumed = accepted + duplicates + dead_letters,
        and accepted = windowed_events + evicted_events + pending.
        """
        return self.accepted - self.windowed_events - self.evicted_events

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
