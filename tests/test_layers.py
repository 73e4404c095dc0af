"""The house in layers: no module imports a package above it, services do not import each other,
and nothing imports ``fleetcast/`` (the composition root). Lazy imports inside functions count."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: package -> the packages it may import besides itself (the layers below it).
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "core": {"schemas"},
    "producers": {"schemas", "core"},
    "stream_processors": {"schemas", "core"},
    "inference_worker": {"schemas", "core"},
    "forwarding": {"schemas", "core"},
    # The model-insight view runs the worker's network, so ui stands above inference_worker.
    "ui": {"schemas", "core", "inference_worker"},
    # Training and evaluation use the network and scoring, and simulated history.
    "modelling": {"schemas", "core", "inference_worker", "producers"},
    "fleetcast": {"schemas", "core", "producers", "stream_processors", "inference_worker",
                  "forwarding", "ui", "modelling"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The first-party top-level packages ``path`` imports, with the line."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found |= {(n.split(".")[0], node.lineno) for n in names if n.split(".")[0] in ALLOWED}
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        for imported, line in imported_packages(path):
            if imported != package and imported not in ALLOWED[package]:
                out.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    assert (REPO / package / "__init__.py").is_file()
    assert violations(package) == []


def test_the_check_catches_an_import_that_runs_back_up(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom ui.api import create_app\n\ndef f():\n"
                      "    from fleetcast.cli import main\n")
    assert imported_packages(module) == {("ui", 2), ("fleetcast", 5)}


def test_every_top_level_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)
