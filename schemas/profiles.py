"""Server profiles, recognised from the server name's prefix.

A server never seen before is not bad input: it gets the profile its name
prefix names, or ``generic`` when none matches.
"""

from __future__ import annotations

from typing import Final, Literal

Profile = Literal[
    "ml_compute",
    "database",
    "web_api",
    "conductor_mgmt",
    "data_ingest",
    "risk_analytics",
    "generic",
]

#: profile -> (name prefix, digits in the number), as the original fleet named them.
PROFILES: Final[dict[str, tuple[str, int]]] = {
    "ml_compute": ("ppml", 4),
    "database": ("ppdb", 3),
    "web_api": ("ppweb", 3),
    "conductor_mgmt": ("ppcon", 2),
    "data_ingest": ("ppdi", 3),
    "risk_analytics": ("ppra", 3),
    "generic": ("ppsrv", 3),
}

# Longest prefix first so that e.g. "ppdi" is not shadowed by a shorter one.
_BY_PREFIX: Final = sorted(
    ((prefix, profile) for profile, (prefix, _) in PROFILES.items()),
    key=lambda item: -len(item[0]),
)


def profile_for(server_id: str) -> Profile:
    """The profile a server belongs to, from its name prefix (case-insensitive)."""
    lowered = server_id.lower()
    for prefix, profile in _BY_PREFIX:
        if lowered.startswith(prefix):
            return profile  # type: ignore[return-value]
    return "generic"


def server_name(profile: str, number: int) -> str:
    """The conventional name of the ``number``-th server of a profile, e.g. ppdb001."""
    prefix, digits = PROFILES[profile]
    return f"{prefix}{number:0{digits}d}"
