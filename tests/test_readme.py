"""README's numbers are the code's: a reader who tunes from README tunes what runs."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings
from schemas.grid import CONTEXT_STEPS, HORIZON_STEPS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def default(field: str) -> object:
    return Settings.model_fields[field].default


def test_the_micro_batch_in_readme_is_the_default() -> None:
    [(windows, ms)] = re.findall(r"micro-batches \((\d+) windows or (\d+) ms", README)
    assert (int(windows), int(ms)) == (default("batch_size"), default("batch_deadline_ms"))


def test_the_grid_in_readme_is_the_code_s() -> None:
    assert f"{CONTEXT_STEPS}-step context, {HORIZON_STEPS}-step horizon" in README
    [(encoder, minimum, horizon)] = re.findall(
        r"Encoder (\d+) steps\s+\(minimum (\d+)\), horizon (\d+)", README)
    assert (int(encoder), int(horizon)) == (CONTEXT_STEPS, HORIZON_STEPS)
    assert int(minimum) == default("min_context_steps")
