"""``fleetcast produce --source prometheus --url URL``: a node_exporter page mapped onto the schema.

The page (Prometheus text format) is parsed with ``prometheus_client``'s parser
and read into the same ``Sample`` as the host source, so the mapping rules in
``producers/sources/mapping.py`` apply unchanged:

| metric event | node_exporter samples |
|---|---|
| ``cpu_pct`` | ``node_cpu_seconds_total{mode}``: 1 - rate(idle + iowait) / rate(all modes) |
| ``mem_pct`` | 1 - ``node_memory_MemAvailable_bytes`` / ``node_memory_MemTotal_bytes`` |
| ``disk_pct`` | fullest of ``node_filesystem_{size,free,avail}_bytes`` (real, writable) |
| ``net_in_mbps`` | rate of ``node_network_receive_bytes_total`` x 8 / 10^6, real interfaces |
| ``net_out_mbps`` | rate of ``node_network_transmit_bytes_total`` x 8 / 10^6, real interfaces |

The server id is ``--server`` when given, else the page's
``node_uname_info{nodename}``, else the URL's host name, normalised.
"""

from __future__ import annotations

import math
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from producers.sources.mapping import (
    Filesystem,
    Sample,
    is_virtual_interface,
    normalise_server_id,
)
from producers.sources.publishing import Reading, SampleRejectedError, SourceUnavailableError

STAGE = "source_prometheus"
MAX_PAGE_BYTES: Final = 16 * 1024 * 1024
_ACCEPT: Final = "text/plain;version=0.0.4"
_NOT_BUSY_MODES: Final = frozenset({"idle", "iowait"})
_FS_FIELDS: Final = {
    "node_filesystem_size_bytes": "size",
    "node_filesystem_free_bytes": "free",
    "node_filesystem_avail_bytes": "avail",
    "node_filesystem_readonly": "readonly",
}


@dataclass(frozen=True)
class NodePage:
    sample: Sample
    nodename: str | None


class _Collected:
    """The samples of a page that the mapping needs, summed as it needs them."""

    def __init__(self) -> None:
        self.cpu_total: float | None = None
        self.cpu_idle = 0.0
        self.memory: dict[str, float] = {}
        self.filesystems: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
        self.net: dict[str, float] = {}
        self.nodename: str | None = None

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        if name == "node_cpu_seconds_total":
            self.cpu_total = (self.cpu_total or 0.0) + value
            if labels.get("mode") in _NOT_BUSY_MODES:
                self.cpu_idle += value
        elif name in ("node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes"):
            self.memory[name] = value
        elif name in _FS_FIELDS:
            key = (labels.get("device", ""), labels.get("mountpoint", ""), labels.get("fstype", ""))
            self.filesystems[key][_FS_FIELDS[name]] = value
        elif name in ("node_network_receive_bytes_total", "node_network_transmit_bytes_total"):
            if not is_virtual_interface(labels.get("device", "")):
                self.net[name] = self.net.get(name, 0.0) + value
        elif name == "node_uname_info":
            self.nodename = labels.get("nodename") or None

    def sample(self, at: float) -> Sample:
        filesystems = tuple(
            Filesystem(mountpoint=mount, fstype=fstype, size_bytes=f["size"],
                       free_bytes=f["free"], avail_bytes=f["avail"],
                       readonly=f.get("readonly", 0.0) == 1.0)
            for (_device, mount, fstype), f in sorted(self.filesystems.items())
            if {"size", "free", "avail"} <= f.keys()
        )
        total = self.cpu_total
        return Sample(
            at=at,
            cpu_busy_s=None if total is None else total - self.cpu_idle,
            cpu_total_s=total,
            mem_total_bytes=self.memory.get("node_memory_MemTotal_bytes"),
            mem_available_bytes=self.memory.get("node_memory_MemAvailable_bytes"),
            filesystems=filesystems,
            net_rx_bytes=self.net.get("node_network_receive_bytes_total"),
            net_tx_bytes=self.net.get("node_network_transmit_bytes_total"),
        )

    def empty(self) -> bool:
        return self.cpu_total is None and not self.memory and not self.filesystems \
            and not self.net


def parse_page(text: str, at: float) -> NodePage:
    """The sample a node_exporter page holds; SampleRejectedError when it is not one."""
    collected = _Collected()
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if math.isfinite(sample.value):
                    collected.add(sample.name, sample.labels, float(sample.value))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise SampleRejectedError(f"not Prometheus text format: {exc}",
                                  text.encode(errors="replace")) from None
    if collected.empty():
        raise SampleRejectedError(
            "no node_exporter metrics on the page (node_cpu_seconds_total, node_memory_*, "
            "node_filesystem_*, node_network_*)", text.encode(errors="replace"))
    return NodePage(collected.sample(at), collected.nodename)


def fetch_page(url: str, timeout_s: float) -> bytes:
    """The page's bytes; SourceUnavailableError when the exporter cannot be reached."""
    request = urllib.request.Request(url, headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body: bytes = response.read(MAX_PAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise SourceUnavailableError(f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SourceUnavailableError(f"{url} unreachable: {exc}") from None
    if len(body) > MAX_PAGE_BYTES:
        raise SampleRejectedError(f"page larger than {MAX_PAGE_BYTES} bytes", body)
    return body


class PrometheusSource:
    """One node_exporter, scraped each time ``read`` is called."""

    stage = STAGE

    def __init__(self, url: str, server_id: str | None = None, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be an http(s) URL, got {url!r}")
        self.url = url
        self.origin = url
        self.server_id = server_id
        self._timeout_s = timeout_s
        self._fallback_id = parts.hostname

    def read(self) -> Reading:
        body = fetch_page(self.url, self._timeout_s)
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise SampleRejectedError(f"page is not UTF-8: {exc}", body) from None
        page = parse_page(text, time.monotonic())
        server_id = self.server_id or self._name(page.nodename)
        return Reading(server_id, page.sample)

    def _name(self, nodename: str | None) -> str:
        if nodename:
            try:
                return normalise_server_id(nodename)
            except ValueError:
                pass
        try:
            return normalise_server_id(self._fallback_id)
        except ValueError as exc:
            raise SampleRejectedError(f"{exc}; give --server", b"") from None
