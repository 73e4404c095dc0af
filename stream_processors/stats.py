"""Counters of what the stream processor consumed, produced and rejected."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class ProcessStats:
    consumed: int = 0  # messages read from the metrics topic
    accepted: int = 0  # events folded into a server's steps
    duplicates: int = 0  # replays of offsets already in the state (after a restart)
    dead_letters: int = 0  # rejected, each sent to the dead-letter topic
    windows: int = 0  # context windows published
    steps_closed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
