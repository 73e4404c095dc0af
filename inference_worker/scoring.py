"""Risk 0-100 per server from its current values and its forecast, and the severity it maps to.

Per metric, two readings are scored and the higher wins:
- now: where the last observed value sits against the profile's thresholds
  (below the watch level: 0-29; up to warning: 30-59; warning to critical:
  60-79; past critical: 80-100; see ``Threshold.watch``).
- ahead: when the forecast crosses a threshold. The median (p50) reaching
  critical scores 90 within 30 minutes and falls to 70 at 8 hours; the median
  reaching only warning scores 60-69; the pessimistic p90 reaching critical
  50-59, reaching warning 30-49. Sooner means higher.
The server's risk is its worst metric's; that metric is named in alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from schemas.common import METRICS
from schemas.severity import Severity, severity_for
from schemas.thresholds import Threshold, thresholds_for

Q10, Q50, Q90 = 0, 1, 2


@dataclass(frozen=True)
class Risk:
    score: float
    severity: Severity
    metric: str | None
    predicted_breach_at: datetime | None
    summary: str


def score_now(value: float, limit: Threshold) -> float:
    if not np.isfinite(value):
        return 0.0
    watch_from = limit.watch
    if value < watch_from:
        return 29.0 * max(value, 0.0) / watch_from if watch_from > 0 else 0.0
    if value < limit.warning:
        return 30.0 + 29.0 * (value - watch_from) / (limit.warning - watch_from)
    if value < limit.critical:
        return 60.0 + 19.0 * (value - limit.warning) / (limit.critical - limit.warning)
    beyond = (value - limit.critical) / max(limit.critical - limit.warning, 1e-9)
    return min(100.0, 80.0 + 20.0 * beyond)


def _first_crossing(path: np.ndarray, level: float) -> int | None:
    hits = np.flatnonzero(path >= level)
    return int(hits[0]) if hits.size else None


def _sooner(step: int, horizon: int, high: float, low: float) -> float:
    """``high`` for a crossing in the first 30 minutes (6 steps), falling to ``low`` at the end."""
    if step < 6:
        return high
    return high - (high - low) * (step - 6) / max(horizon - 6, 1)


def score_ahead(quantiles: np.ndarray, limit: Threshold) -> tuple[float, int | None]:
    """Risk from one metric's ``[q, h]`` forecast, and the step where p50 crosses critical."""
    horizon = quantiles.shape[-1]
    if not np.isfinite(quantiles).all():
        return 0.0, None
    crit = _first_crossing(quantiles[Q50], limit.critical)
    if crit is not None:
        return _sooner(crit, horizon, 90.0, 70.0), crit
    candidates = []
    warn = _first_crossing(quantiles[Q50], limit.warning)
    if warn is not None:
        candidates.append(_sooner(warn, horizon, 69.0, 60.0))
    pess_crit = _first_crossing(quantiles[Q90], limit.critical)
    if pess_crit is not None:
        candidates.append(_sooner(pess_crit, horizon, 59.0, 50.0))
    pess_warn = _first_crossing(quantiles[Q90], limit.warning)
    if pess_warn is not None:
        candidates.append(_sooner(pess_warn, horizon, 49.0, 30.0))
    return max(candidates, default=0.0), None


def assess(
    *,
    server_id: str,
    profile: str,
    last_values: dict[str, float | None],
    quantiles: np.ndarray | None,
    start: datetime,
    step_seconds: int,
) -> Risk:
    """The server's risk from ``last_values`` and ``quantiles[m, q, h]`` (None: no forecast)."""
    limits = thresholds_for(profile)
    best: tuple[float, str | None, int | None, str] = (0.0, None, None, "")  # score, metric,
    # breach step, why
    for m, name in enumerate(METRICS):
        value = last_values.get(name)
        limit = limits[name]
        now = score_now(value, limit) if value is not None else 0.0
        ahead, breach = (0.0, None) if quantiles is None else score_ahead(quantiles[m], limit)
        score = max(now, ahead)
        if score > best[0]:
            if ahead > now and quantiles is not None:
                when = "p50 crosses critical" if breach is not None else "forecast nears limits"
                why = f"{name} {_fmt(value)} now; {when} (warning {limit.warning:g}, " \
                      f"critical {limit.critical:g})"
            else:
                why = f"{name} at {_fmt(value)} (warning {limit.warning:g}, " \
                      f"critical {limit.critical:g})"
            best = (score, name, breach, why)
    score, metric, breach, why = best
    breach_at = (
        start + timedelta(seconds=breach * step_seconds) if breach is not None else None
    )
    score = round(float(score), 1)
    severity = severity_for(score)
    summary = f"{server_id} ({profile}) {severity}, risk {score:g}"
    if metric is not None and score >= 30:
        summary += f": {why}"
        if breach_at is not None:
            summary += f", breach predicted at {breach_at.isoformat()}"
    return Risk(score, severity, metric, breach_at, summary)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
