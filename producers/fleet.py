"""The default fleet: server names in the proportions of the original 20-server fleet."""

from __future__ import annotations

from typing import Final

from schemas.profiles import PROFILES, server_name

#: Servers per profile in the original fleet (10 ml_compute, 3 database, 3 web_api, one of
#: each of the rest). Any other fleet size keeps these proportions.
ORIGINAL_MIX: Final[dict[str, int]] = {
    "ml_compute": 10,
    "database": 3,
    "web_api": 3,
    "conductor_mgmt": 1,
    "data_ingest": 1,
    "risk_analytics": 1,
    "generic": 1,
}
assert set(ORIGINAL_MIX) == set(PROFILES), "every profile needs a share of the fleet"


def profile_counts(n: int) -> dict[str, int]:
    """How many servers of each profile a fleet of ``n`` gets; the counts sum to ``n``.

    From seven servers on every profile gets at least one, so a small fleet still
    shows every kind; the rest is shared in the original proportions with
    largest-remainder rounding (ties to the profile listed first). Below seven
    servers the largest profiles get one each.
    """
    if n < 0:
        raise ValueError(f"fleet size must not be negative, got {n}")
    order = list(ORIGINAL_MIX)
    if n < len(order):
        return {profile: int(i < n) for i, profile in enumerate(order)}
    # Profiles whose fair share is below one server get exactly one; the others
    # share what is left. Repeat: fixing some can push another below one.
    fixed: dict[str, int] = {}
    while True:
        free = [p for p in order if p not in fixed]
        left = n - sum(fixed.values())
        weight = sum(ORIGINAL_MIX[p] for p in free)
        quotas = {p: left * ORIGINAL_MIX[p] / weight for p in free}
        small = [p for p in free if quotas[p] < 1]
        if not small:
            break
        fixed |= dict.fromkeys(small, 1)
    counts = {p: int(quota) for p, quota in quotas.items()}
    by_remainder = sorted(free, key=lambda p: (-(quotas[p] - counts[p]), order.index(p)))
    for profile in by_remainder[: left - sum(counts.values())]:
        counts[profile] += 1
    return {p: fixed.get(p, counts.get(p, 0)) for p in order}


def default_fleet(n: int = 20) -> list[str]:
    """``n`` server names, grouped by profile and numbered from 1 (ppml0001, ..., ppsrv001).

    Deterministic: the same ``n`` always gives the same list, so every service and
    every restart agrees on which servers exist.
    """
    return [
        server_name(profile, number)
        for profile, count in profile_counts(n).items()
        for number in range(1, count + 1)
    ]
