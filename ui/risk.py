"""The worker's incident probabilities as the dashboard shows them: the fleet's and their text.

The probabilities themselves come from the inference worker (``Forecast.p_incident_30m`` and
``p_incident_8h``, and per metric ``Forecast.breach``); the UI computes no risk of its own. An
*incident* is as ``schemas/incident.py`` defines it.
"""

from __future__ import annotations

from collections.abc import Iterable


def fleet_probability(probabilities: Iterable[float]) -> float:
    """At least one incident in the fleet: ``1 - prod(1 - p)``."""
    survive = 1.0
    for p in probabilities:
        survive *= 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - survive


def format_probability(p: float) -> str:
    """0.004 -> '<1%', 0.5 -> '50%', 0.9996 -> '>99%'."""
    if p < 0.01:
        return "<1%" if p > 0 else "0%"
    if p > 0.99:
        return ">99%"
    return f"{p:.0%}"

