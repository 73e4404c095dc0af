"""Severity colours and labels shared by every view, so a level looks the same everywhere."""

from __future__ import annotations

from typing import Final, NamedTuple

from schemas.severity import Severity


class Swatch(NamedTuple):
    strong: str  # badges and the severity cell
    text: str  # text drawn on ``strong``
    tint: str  # row backgrounds: light enough to read black text on


#: Green through yellow and orange to red, ending in dark purple so that the
#: last level stands out even from ``critical``.
SEVERITY_SWATCHES: Final[dict[Severity, Swatch]] = {
    "healthy": Swatch("#2e7d32", "#ffffff", "#e8f5e9"),
    "watch": Swatch("#9e9d24", "#ffffff", "#f9fbe7"),
    "degrading": Swatch("#fbc02d", "#212121", "#fff8e1"),
    "warning": Swatch("#f57c00", "#ffffff", "#fff3e0"),
    "danger": Swatch("#e64a19", "#ffffff", "#fbe9e7"),
    "critical": Swatch("#c62828", "#ffffff", "#ffebee"),
    "imminent_failure": Swatch("#4a148c", "#ffffff", "#ede7f6"),
}
#: Servers without a forecast yet, and resolved alerts: deliberately colourless.
NEUTRAL: Final = Swatch("#757575", "#ffffff", "#f5f5f5")


def swatch(level: str) -> Swatch:
    """The colours of a severity; anything else (warming up, resolved) is neutral."""
    return SEVERITY_SWATCHES.get(level, NEUTRAL)  # type: ignore[call-overload]


def label(level: str) -> str:
    """``imminent_failure`` -> ``imminent failure``."""
    return level.replace("_", " ")
