"""``python -m schemas``: regenerate the checked-in JSON Schema files from the models."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.common import Payload
from schemas.control_event import CONTROL_COMMANDS
from schemas.topics import TOPICS

JSONSCHEMA_DIR = Path(__file__).parent / "jsonschema"


def schema_file(payload: type[Payload]) -> Path:
    return JSONSCHEMA_DIR / f"{payload.__name__}.schema.json"


def render(payload: type[Payload]) -> str:
    return json.dumps(payload.model_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    JSONSCHEMA_DIR.mkdir(exist_ok=True)
    # Each topic's payload, and the control topic's other commands.
    for payload in dict.fromkeys([*(spec.payload for spec in TOPICS), *CONTROL_COMMANDS]):
        schema_file(payload).write_text(render(payload))
        print(f"wrote {schema_file(payload)}")


if __name__ == "__main__":
    main()
