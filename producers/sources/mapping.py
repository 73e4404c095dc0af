"""One set of mapping rules from a machine's raw counters onto the metric event (pure).

Both real sources, psutil on this host and a node_exporter page, are read into
a ``Sample`` of the same raw quantities; ``to_values`` turns two consecutive
samples into the event's metrics, so the two sources cannot disagree:

- ``cpu_pct`` = 100 x (1 - (idle + iowait) / all modes), over the seconds
  between the two samples, summed over every CPU (guest time is inside user);
- ``mem_pct`` = 100 x (1 - available / total) (``MemAvailable``, as ``free``);
- ``disk_pct`` = the fullest real filesystem, as ``df`` counts it:
  used / (used + available to users), used = size - free; pseudo, memory-backed
  and read-only filesystems are left out (``EXCLUDED_FSTYPES``);
- ``net_in_mbps`` / ``net_out_mbps`` = bytes received / sent per second x 8 / 10^6,
  summed over the real interfaces (loopback and virtual ones are left out,
  ``is_virtual_interface``);
- ``latency_ms`` and ``error_rate`` have no honest host-level source: null.

Rates need two samples: the first sample of a source has no cpu or network
values, and a counter that went backwards (a reboot, an interface reset)
leaves that metric null for one sample rather than inventing a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from pydantic import TypeAdapter, ValidationError

from schemas.common import METRICS, SERVER_ID_MAX_LEN, ServerId, describe_validation_error

#: Filesystem types that are not a disk that can fill up: memory-backed, pseudo,
#: image (always 100% full) and container layers.
EXCLUDED_FSTYPES: Final = frozenset({
    "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts",
    "devtmpfs", "erofs", "fuse.lxcfs", "fuse.snapfuse", "fusectl", "hugetlbfs", "iso9660",
    "mqueue", "nsfs", "overlay", "proc", "procfs", "pstore", "ramfs", "rpc_pipefs",
    "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "udf",
})
#: Interface name prefixes of virtual links whose traffic is already counted on a real one.
VIRTUAL_INTERFACE_PREFIXES: Final = (
    "veth", "docker", "br-", "virbr", "cni", "flannel", "cali", "vxlan", "kube-", "tunl",
    "weave", "lxc", "lxd", "podman", "ifb", "dummy",
)
_BITS_PER_BYTE: Final = 8
_MEGA: Final = 1_000_000
_DIGITS: Final = 3
_SERVER_ID = TypeAdapter(ServerId)
_NOT_ALLOWED = re.compile(r"[^a-z0-9._-]+")


@dataclass(frozen=True)
class Filesystem:
    mountpoint: str
    fstype: str
    size_bytes: float
    free_bytes: float  # free blocks, including those reserved for root
    avail_bytes: float  # free blocks available to unprivileged users
    readonly: bool = False


@dataclass(frozen=True)
class Sample:
    """A machine's raw counters and gauges at one instant; None where the source has none."""

    at: float  # monotonic seconds when taken: rates are per second between two samples
    cpu_busy_s: float | None = None  # CPU seconds not idle or waiting for I/O, all CPUs
    cpu_total_s: float | None = None  # CPU seconds in every mode, all CPUs
    mem_total_bytes: float | None = None
    mem_available_bytes: float | None = None
    filesystems: tuple[Filesystem, ...] = field(default_factory=tuple)
    net_rx_bytes: float | None = None  # received, summed over the real interfaces
    net_tx_bytes: float | None = None


def is_virtual_interface(name: str) -> bool:
    return name == "lo" or name.startswith(VIRTUAL_INTERFACE_PREFIXES)


def counts_as_disk(fs: Filesystem) -> bool:
    return fs.fstype not in EXCLUDED_FSTYPES and not fs.readonly and fs.size_bytes > 0


def disk_pct(filesystems: Iterable[Filesystem]) -> float | None:
    """The fullest real filesystem's use, as ``df`` shows it; None when there is none."""
    fullest = None
    for fs in filesystems:
        if not counts_as_disk(fs):
            continue
        used = fs.size_bytes - fs.free_bytes
        room = used + fs.avail_bytes
        if room <= 0:
            continue
        pct = 100.0 * used / room
        fullest = pct if fullest is None else max(fullest, pct)
    return fullest


def _rate(previous: float | None, current: float | None, seconds: float) -> float | None:
    """Growth per second of a counter; None when unknown or when it went backwards."""
    if previous is None or current is None or seconds <= 0 or current < previous:
        return None
    return (current - previous) / seconds


def _cpu_pct(previous: Sample, current: Sample) -> float | None:
    if None in (previous.cpu_busy_s, previous.cpu_total_s, current.cpu_busy_s,
                current.cpu_total_s):
        return None
    busy = _rate(previous.cpu_busy_s, current.cpu_busy_s, 1.0)
    total = _rate(previous.cpu_total_s, current.cpu_total_s, 1.0)
    if busy is None or not total:
        return None
    return 100.0 * busy / total


def _mbps(previous: float | None, current: float | None, seconds: float) -> float | None:
    per_second = _rate(previous, current, seconds)
    return None if per_second is None else per_second * _BITS_PER_BYTE / _MEGA


def to_values(previous: Sample | None, current: Sample) -> dict[str, float | None]:
    """The metric event's values from two consecutive samples (the first may be None)."""
    values: dict[str, float | None] = dict.fromkeys(METRICS)
    if current.mem_total_bytes and current.mem_available_bytes is not None:
        values["mem_pct"] = 100.0 * (1 - current.mem_available_bytes / current.mem_total_bytes)
    values["disk_pct"] = disk_pct(current.filesystems)
    if previous is not None:
        seconds = current.at - previous.at
        values["cpu_pct"] = _cpu_pct(previous, current)
        values["net_in_mbps"] = _mbps(previous.net_rx_bytes, current.net_rx_bytes, seconds)
        values["net_out_mbps"] = _mbps(previous.net_tx_bytes, current.net_tx_bytes, seconds)
    return {name: None if v is None else round(v, _DIGITS) for name, v in values.items()}


def normalise_server_id(name: str) -> str:
    """A host name made into a valid server id: lower case, other characters as '-'.

    ``Web 01.Example.com`` becomes ``web-01.example.com``; raises ValueError when
    nothing usable is left.
    """
    cleaned = _NOT_ALLOWED.sub("-", name.strip().lower()).lstrip("._-")
    cleaned = cleaned[:SERVER_ID_MAX_LEN].rstrip("._-")
    if not cleaned:
        raise ValueError(f"cannot make a server id out of {name!r}")
    return check_server_id(cleaned)


def check_server_id(name: str) -> str:
    """``name`` if it is a valid server id, else ValueError with the rule it breaks."""
    try:
        return str(_SERVER_ID.validate_python(name))
    except ValidationError as exc:
        raise ValueError(f"invalid server id {name!r}: {describe_validation_error(exc)}") from None
