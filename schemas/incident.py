"""What fleetcast calls an incident, in one place for the worker, the dashboard and the evaluation.

An **incident** is a metric of a server at or above its profile's critical threshold
(``schemas/thresholds.py``): what the worker's risk is the probability of, and what an alert
warns of. An alert episode that reached ``INCIDENT_SEVERITY`` is one where fleetcast expected
(or saw) an incident; the dashboard's cost view counts those. On recorded data without profiles
the evaluation uses the operational form of the same idea (``modelling``): a metric at or above
95% for at least three steps after a quiet spell.
"""

from __future__ import annotations

from typing import Final

from schemas.severity import Severity
from schemas.thresholds import thresholds_for

#: An alert episode that reached this severity (or worse) stands for an incident.
INCIDENT_SEVERITY: Final[Severity] = "danger"


def incident_level(profile: str, metric: str) -> float:
    """The value at or above which ``metric`` of a server with ``profile`` is an incident."""
    return thresholds_for(profile)[metric].critical


def is_incident(profile: str, metric: str, value: float) -> bool:
    return value >= incident_level(profile, metric)
