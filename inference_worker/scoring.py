"""Risk 0-100 per server from the forecast's chance of an incident, and the severity it maps to.

Per metric, two readings are scored and the higher wins:

- **ahead** (the forecast): the calibrated probabilities that the metric reaches its profile's
  critical threshold within 30 minutes (``p_30m``) and within 8 hours (``p_8h``), from the
  p10/p50/p90 forecast (``inference_worker/breach.py``). ``p_30m`` at or above
  ``RiskPolicy.imminent_p30m`` scores 90-100 (imminent failure); otherwise ``p_8h`` is mapped
  through the policy's knots: 5% -> 30 (watch), 15% -> 50 (degrading), 25% -> 60 (warning),
  50% -> 70 (danger), 75% -> 80 (critical), linear between them. ``critical`` also needs the
  expected breach within ``critical_within``: a likely breach 7 hours out is ``danger``.
- **now** (the current value): where the last observed value sits against the profile's
  thresholds (below the watch level: 0-29; up to warning: 30-59; warning to critical: 60-79; past
  critical: 80-100; see ``Threshold.watch``).

The server's risk is its worst metric's; that metric, its probabilities and the predicted breach
time are named in alerts, with ``cause`` saying which reading drove it. So an alert fires while
every value is still normal when the model expects a breach. The server's chance of an incident
is ``1 - prod(1 - p)`` over its metrics (1 when a value is past critical now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from inference_worker.breach import WITHIN_8_H, BreachCalibration, breach
from schemas.common import METRICS
from schemas.incident import incident_level
from schemas.severity import Severity, severity_for
from schemas.thresholds import Threshold, thresholds_for

Q10, Q50, Q90 = 0, 1, 2
Cause = Literal["forecast", "current"]


@dataclass(frozen=True)
class RiskPolicy:
    """How probabilities become a risk score: one place, stated in README."""

    imminent_p30m: float = 0.5
    #: (p_8h, score) knots, increasing: watch, degrading, warning, danger, critical. Set on
    #: the July hold-out (before August was scored): calibrated p_8h reached 0.37 at most
    #: there, so a warning at 40% would never fire, while the bulk of (server, metric,
    #: origin) pairs sit at 1-3% (the calibration's lowest knots).
    knots: tuple[tuple[float, float], ...] = (
        (0.0, 0.0), (0.05, 30.0), (0.15, 50.0), (0.25, 60.0), (0.5, 70.0), (0.75, 80.0),
        (1.0, 89.0),
    )
    critical_within: timedelta = timedelta(hours=2)
    #: Below this p_8h there is no predicted breach time to speak of.
    breach_time_from: float = 0.05


DEFAULT_POLICY = RiskPolicy()


@dataclass(frozen=True)
class Outlook:
    """One metric's chance of an incident, from its forecast."""

    threshold: float
    p_30m: float
    p_8h: float
    breach_at: datetime | None


@dataclass(frozen=True)
class Risk:
    score: float
    severity: Severity
    metric: str | None
    predicted_breach_at: datetime | None
    summary: str
    cause: Cause = "current"
    p_30m: float | None = None  # of ``metric``
    p_8h: float | None = None
    outlooks: dict[str, Outlook] = field(default_factory=dict)
    p_incident_30m: float = 0.0
    p_incident_8h: float = 0.0


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


def score_ahead(outlook: Outlook, start: datetime, policy: RiskPolicy = DEFAULT_POLICY) -> float:
    """Risk from one metric's probabilities of an incident (see the module docstring)."""
    if outlook.p_30m >= policy.imminent_p30m:
        return 90.0 + 10.0 * (outlook.p_30m - policy.imminent_p30m) / (1 - policy.imminent_p30m)
    p, s = zip(*policy.knots, strict=True)
    score = float(np.interp(outlook.p_8h, p, s))
    soon = outlook.breach_at is not None and outlook.breach_at - start <= policy.critical_within
    return score if soon else min(score, 79.0)


def outlooks(
    profile: str,
    quantiles: np.ndarray,
    start: datetime,
    step_seconds: int,
    *,
    calibration: BreachCalibration,
    policy: RiskPolicy = DEFAULT_POLICY,
) -> dict[str, Outlook]:
    """Per metric with a forecast (``quantiles[m, q, h]``): its chance of an incident."""
    forecast = np.isfinite(quantiles).all(axis=(1, 2))
    names = [name for m, name in enumerate(METRICS) if forecast[m]]
    if not names:
        return {}
    q = quantiles[forecast].astype(np.float64)
    levels = np.array([incident_level(profile, name) for name in names])
    result = breach(q[:, Q10], q[:, Q50], q[:, Q90], levels, calibration)
    likeliest = np.argmax(np.nan_to_num(result.exceedance[:, :WITHIN_8_H], nan=0.0), axis=-1)
    out = {}
    for i, name in enumerate(names):
        p_8h = float(result.within_8_h[i])
        step = int(result.median_step[i])
        if step < 0 and p_8h >= policy.breach_time_from:
            step = int(likeliest[i])
        out[name] = Outlook(
            threshold=float(levels[i]),
            p_30m=min(float(result.within_30_min[i]), p_8h),  # 30 minutes are inside 8 hours
            p_8h=p_8h,
            breach_at=start + timedelta(seconds=step * step_seconds) if step >= 0 else None,
        )
    return out


def assess(
    *,
    server_id: str,
    profile: str,
    last_values: dict[str, float | None],
    quantiles: np.ndarray | None,
    start: datetime,
    step_seconds: int,
    calibration: BreachCalibration | None = None,
    policy: RiskPolicy = DEFAULT_POLICY,
) -> Risk:
    """The server's risk from ``last_values`` and ``quantiles[m, q, h]`` (None: no forecast)."""
    limits = thresholds_for(profile)
    ahead_of = ({} if quantiles is None else
                outlooks(profile, quantiles, start, step_seconds,
                         calibration=calibration or BreachCalibration(), policy=policy))
    best: tuple[float, str | None, Cause, str] = (0.0, None, "current", "")
    survive_30m = survive_8h = 1.0
    for name in METRICS:
        value = last_values.get(name)
        limit = limits[name]
        now = score_now(value, limit) if value is not None else 0.0
        outlook = ahead_of.get(name)
        ahead = score_ahead(outlook, start, policy) if outlook is not None else 0.0
        if value is not None and value >= limit.critical:
            survive_30m = survive_8h = 0.0  # an incident now: certain, whatever the forecast
            if outlook is not None:
                ahead_of[name] = Outlook(outlook.threshold, 1.0, 1.0, start)
        elif outlook is not None:
            survive_30m *= 1.0 - outlook.p_30m
            survive_8h *= 1.0 - outlook.p_8h
        score = max(now, ahead)
        if score > best[0]:
            thresholds = f"(warning {limit.warning:g}, critical {limit.critical:g})"
            if outlook is not None and ahead > now:
                why = (f"{name} {_fmt(value)} now; {outlook.p_8h:.0%} chance of reaching "
                       f"{limit.critical:g} within 8 h {thresholds}")
                best = (score, name, "forecast", why)
            else:
                best = (score, name, "current", f"{name} at {_fmt(value)} {thresholds}")
    score, metric, cause, why = best
    driving = ahead_of.get(metric) if metric is not None else None
    breach_at = driving.breach_at if driving is not None else None
    score = round(float(score), 1)
    severity = severity_for(score)
    summary = f"{server_id} ({profile}) {severity}, risk {score:g}"
    if metric is not None and score >= 30:
        summary += f": {why}"
        if breach_at is not None:
            summary += f", breach predicted at {breach_at.isoformat()}"
    return Risk(
        score, severity, metric, breach_at, summary, cause,
        p_30m=driving.p_30m if driving is not None else None,
        p_8h=driving.p_8h if driving is not None else None,
        outlooks=ahead_of,
        p_incident_30m=round(1.0 - survive_30m, 4),
        p_incident_8h=round(1.0 - survive_8h, 4),
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"
