"""The seven severity levels and how a 0-100 risk score maps onto them."""

from __future__ import annotations

from typing import Final, Literal

Severity = Literal[
    "healthy", "watch", "degrading", "warning", "danger", "critical", "imminent_failure"
]

#: (lowest risk score of the level, level), most severe first.
_LEVELS: Final[tuple[tuple[float, Severity], ...]] = (
    (90.0, "imminent_failure"),
    (80.0, "critical"),
    (70.0, "danger"),
    (60.0, "warning"),
    (50.0, "degrading"),
    (30.0, "watch"),
    (0.0, "healthy"),
)

#: Least to most severe.
SEVERITIES: Final[tuple[Severity, ...]] = tuple(level for _, level in reversed(_LEVELS))


def severity_for(risk_score: float) -> Severity:
    """Severity of a risk score; scores are clamped to 0-100."""
    for floor, level in _LEVELS:
        if risk_score >= floor:
            return level
    return "healthy"


def rank(severity: Severity) -> int:
    """0 for healthy up to 6 for imminent_failure, for comparisons."""
    return SEVERITIES.index(severity)
