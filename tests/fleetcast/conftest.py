"""The stack benches' child services serve the session's tiny TFT (tests/tiny_model.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def tiny_tft(trained_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny model's version; the stack's children load it (they inherit the environment)."""
    monkeypatch.setenv("FLEETCAST_MODEL_PATH", str(trained_model_dir / "latest"))
    return "tiny-1"
