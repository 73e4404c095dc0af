"""``fleetcast produce --source host``: this machine's own counters, read through psutil."""

from __future__ import annotations

import socket
import time
from typing import Any

import psutil

from producers.sources.mapping import (
    Filesystem,
    Sample,
    is_virtual_interface,
    normalise_server_id,
)
from producers.sources.publishing import Reading

STAGE = "source_host"

#: CPU time fields that are already inside ``user``/``nice`` on Linux.
_GUEST_FIELDS = ("guest", "guest_nice")
_NOT_BUSY_FIELDS = ("idle", "iowait")


def host_server_id() -> str:
    """This machine's server id: its host name, normalised to the server id rules."""
    return normalise_server_id(socket.gethostname())


def cpu_seconds(times: Any) -> tuple[float, float]:
    """(busy, total) CPU seconds from psutil's ``cpu_times()``, as node_exporter counts them."""
    named = times._asdict()
    total = sum(v for k, v in named.items() if k not in _GUEST_FIELDS)
    idle = sum(named.get(k, 0.0) for k in _NOT_BUSY_FIELDS)
    return total - idle, total


def _filesystems() -> tuple[Filesystem, ...]:
    found = []
    for partition in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:  # gone, or not ours to read
            continue
        found.append(Filesystem(
            mountpoint=partition.mountpoint, fstype=partition.fstype,
            size_bytes=usage.total, free_bytes=usage.total - usage.used,
            avail_bytes=usage.free, readonly="ro" in partition.opts.split(","),
        ))
    if not found:  # e.g. a container whose root is an overlay: measure "/" as df would
        usage = psutil.disk_usage("/")
        found.append(Filesystem("/", "rootfs", usage.total, usage.total - usage.used, usage.free))
    return tuple(found)


def read_host() -> Sample:
    """One sample of this machine's counters."""
    busy, total = cpu_seconds(psutil.cpu_times())
    memory = psutil.virtual_memory()
    nics = psutil.net_io_counters(pernic=True)
    real = [counters for name, counters in nics.items() if not is_virtual_interface(name)]
    return Sample(
        at=time.monotonic(),
        cpu_busy_s=busy,
        cpu_total_s=total,
        mem_total_bytes=memory.total,
        mem_available_bytes=memory.available,
        filesystems=_filesystems(),
        net_rx_bytes=float(sum(c.bytes_recv for c in real)) if real else None,
        net_tx_bytes=float(sum(c.bytes_sent for c in real)) if real else None,
    )


class HostSource:
    """This machine as one server of the fleet."""

    stage = STAGE
    origin = "psutil"

    def __init__(self, server_id: str | None = None) -> None:
        self.server_id = server_id or host_server_id()

    def read(self) -> Reading:
        return Reading(self.server_id, read_host())
