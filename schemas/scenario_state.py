"""What the simulator did with each scenario command, on ``fleetcast.scenarios``.

``fleetcast.control`` carries what operators asked for; this topic carries what
the simulator applied, and what it refused and why, so that the API and the
dashboard show scenarios that happened rather than requests. It is compacted
and keyed by server: the latest ``applied`` record of a server is the scenario
it is in (a simulator that starts publishes the state each of its servers
starts in: without it, scenarios from before a restart would still show). A refused command is one
record under ``REFUSED_KEY``, which no server id can be, whatever the number
of servers it named: a flood of made-up names cannot fill the topic with keys.
Each refused command is also a dead letter, with the command itself.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, Field

from schemas.common import SCHEMA_VERSION, Payload, ServerId
from schemas.control_event import Scenario

#: The key of refusals: ``!`` cannot start a server id (``schemas.common.SERVER_ID_PATTERN``).
REFUSED_KEY: Final = "!refused"
#: States a server settles back to healthy in by itself: not a scenario in force.
AT_REST: Final = ("healthy", "recovery", "reset")

Outcome = Literal["applied", "refused"]


class ScenarioState(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    outcome: Outcome
    server_id: ServerId | None = Field(
        description="The server now in ``state`` (applied); null for a refused command.")
    scenario: Scenario | None = Field(
        description="The scenario the command asked for; null when a starting simulator "
        "announces the state each server starts in.")
    state: str | None = Field(
        description="What the server does from now on: the scenario, the ramp a degrading "
        "server is on (memory_leak, disk_fill, creeping_load), recovery on its way back after "
        "healthy, or healthy; null for a refused command.")
    reason: str | None = Field(None, description="Why the command was refused.")
    servers_named: int = Field(
        0, ge=0, description="How many servers the command named (0: fleet-wide).")
    at: AwareDatetime = Field(description="The simulated time from which it holds.")

    @property
    def in_force(self) -> bool:
        """Whether the server is in a scenario (not healthy and not settling back)."""
        return self.outcome == "applied" and self.state not in AT_REST

    def key(self) -> bytes:
        return (self.server_id or REFUSED_KEY).encode()
