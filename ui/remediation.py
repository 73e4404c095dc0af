"""Cost avoidance and runbook hints: pure functions over the alert episodes.

An *incident* is as ``schemas/incident.py`` defines it: here, an alert episode that
reached ``INCIDENT_SEVERITY`` (the forecast expecting a critical crossing within
hours). It was *warned ahead* when one of its alerts carried a predicted breach
still in the future; its *warning* is the longest such lead. The avoided cost is

    incidents warned ahead x cost per incident

with the cost configurable (``FLEETCAST_UI_COST_PER_INCIDENT``). Runbook hints
are keyed by the metric that drives an alert (its *kind*), with per-profile
variants; ``FLEETCAST_UI_RUNBOOKS`` may name a YAML file of the same shape
that replaces or adds entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from schemas.incident import INCIDENT_SEVERITY
from schemas.severity import rank
from ui.fleet_state import Episode

#: kind -> profile ("*" for any) -> actions
Runbooks = dict[str, dict[str, list[str]]]

DEFAULT_RUNBOOKS: Runbooks = {
    "cpu_pct": {
        "*": ["Find the busiest processes (top, pidstat) and recent deploys.",
              "Scale out or move load to a healthy peer.",
              "Throttle batch jobs until the forecast falls below warning."],
        "ml_compute": ["Check for stalled training jobs pinning the CPU (GPU starved?).",
                       "Reschedule or cancel the job; drain the node if it stays pinned."],
    },
    "mem_pct": {
        "*": ["Look for a leaking process (RSS growing steadily) and restart it in a window.",
              "Check for swapping; add memory or reduce caches.",
              "Capture a heap dump before restarting, for the postmortem."],
        "database": ["A full buffer pool is normal; act only on swapping or OOM kills.",
                     "Check for runaway queries or connection spikes."],
    },
    "disk_pct": {
        "*": ["Find what grew (du -x, log directories) and rotate or delete it.",
              "Extend the volume before the predicted breach time."],
        "database": ["Archive or purge old partitions; check WAL/binlog retention.",
                     "Make sure backups are not being written to the data volume."],
        "data_ingest": ["Check that retention ran; a stuck cleaner fills the disk by day."],
    },
    "net_in_mbps": {"*": ["Check for a traffic spike or a retry storm; rate-limit clients.",
                          "Confirm the link is not saturated by a backup or replication."]},
    "net_out_mbps": {"*": ["Look for bulk transfers or replication catch-up.",
                           "Move heavy egress to off-peak hours."]},
    "latency_ms": {"*": ["Check dependencies (database, cache) for slowness first.",
                         "Look at saturation (CPU, connections, queues) on this server."],
                   "web_api": ["Shed load or scale out the API tier; check upstream timeouts."]},
    "error_rate": {"*": ["Read the error logs for the dominant error; roll back a recent deploy.",
                         "Check dependencies and disk space (failing writes)."]},
}


def load_runbooks(path: str | None) -> Runbooks:
    """The default runbooks, with the entries of the YAML file at ``path`` laid over them."""
    books = {kind: dict(by_profile) for kind, by_profile in DEFAULT_RUNBOOKS.items()}
    if path:
        extra = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{path}: expected a mapping of kind -> profile -> actions")
        for kind, by_profile in extra.items():
            books.setdefault(str(kind), {}).update(
                {str(p): [str(a) for a in actions] for p, actions in by_profile.items()}
            )
    return books


def hints(books: Mapping[str, Mapping[str, list[str]]], kind: str | None, profile: str
          ) -> list[str]:
    """The actions for an alert kind on a profile: the profile's own first, then the general."""
    by_profile = books.get(kind or "", {})
    return [*by_profile.get(profile, []), *by_profile.get("*", [])]


@dataclass(frozen=True)
class CostSummary:
    incidents: int
    warned: int
    warning_hours: float
    cost_per_incident: float

    @property
    def avoided(self) -> float:
        return self.warned * self.cost_per_incident

    @property
    def mean_warning_hours(self) -> float:
        return self.warning_hours / self.warned if self.warned else 0.0


def cost_summary(episodes: Iterable[Episode], cost_per_incident: float) -> CostSummary:
    incidents = [e for e in episodes if rank(e.peak) >= rank(INCIDENT_SEVERITY)]
    warned = [e for e in incidents if e.lead_s]
    hours = sum((e.lead_s or 0.0) for e in warned) / 3600
    return CostSummary(len(incidents), len(warned), hours, cost_per_incident)
