"""Operator commands on ``fleetcast.control``.

``set_scenario`` (``ControlEvent``) changes what the simulator does to the
named servers; with no servers named it acts fleet-wide (``degrading`` hits a
quarter of the fleet, ``critical`` half, the others all of it).

``reload_model`` (``ReloadModel``) tells every inference worker to load the
model ``models/latest`` names now, instead of at its next check of the file.

Each command is its own payload, told apart by ``command``; a service reads
the commands meant for it and ignores the others (``is_command``).
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, ValidationError

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


class ReloadModel(Payload):
    schema_version: Literal[1] = SCHEMA_VERSION
    command: Literal["reload_model"] = "reload_model"


#: Every payload ``fleetcast.control`` carries.
CONTROL_COMMANDS: Final[tuple[type[Payload], ...]] = (ControlEvent, ReloadModel)


def is_command(raw: bytes, command: type[Payload]) -> bool:
    """Whether ``raw`` is a valid ``command``: how a service recognises another's commands."""
    try:
        parsed = command.model_validate_json(raw)
    except ValidationError:
        return False
    # A command must name itself: with every field defaulted, '{}' would otherwise pass
    # for a reload and be ignored by the producer instead of dead-lettered.
    return "command" in parsed.model_fields_set
