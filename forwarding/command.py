"""``fleetcast alerts --forward KIND --url URL``: arguments checked, then the forwarder run."""

from __future__ import annotations

import sys

from core.settings import Settings
from forwarding.delivery import RetryPolicy
from forwarding.service import make_destination, run_forwarder


def forward_alerts(
    settings: Settings, kind: str, *, url: str | None, group: str | None, attempts: int
) -> int:
    try:
        if not url:
            raise ValueError(f"--forward {kind} needs --url")
        destination = make_destination(kind, url)
        policy = RetryPolicy(attempts=attempts)
    except ValueError as exc:
        print(f"fleetcast alerts: {exc}", file=sys.stderr)
        return 2
    run_forwarder(settings, destination, policy=policy, group_id=group)
    return 0
