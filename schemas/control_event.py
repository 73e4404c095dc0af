"""Operator commands on ``fleetcast.control``.

``set_scenario`` changes what the simulator does to the named servers; with no
servers named it acts fleet-wide (``degrading`` hits a quarter of the fleet,
``critical`` half, the others all of it).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from schemas.common import SCHEMA_VERSION, Payload, ServerId

Scenario = Literal[
    "healthy",
    "degrading",
    "critical",
    "heavy_load",
    "memory_leak",
    "disk_fill",
    "creeping_load",
    "maintenance",
]
SCENARIOS: Final[tuple[str, ...]] = Scenario.__args__  # type: ignore[attr-defined]

MAX_SERVERS_PER_COMMAND = 10_000


class ControlEvent(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    command: Literal["set_scenario"] = "set_scenario"
    scenario: Scenario
    servers: list[ServerId] = Field(default_factory=list, max_length=MAX_SERVERS_PER_COMMAND)
