"""``fleetcast produce --source host|prometheus``: the arguments checked, then the loop run."""

from __future__ import annotations

import sys

from core.settings import Settings
from producers.sources.host import HostSource
from producers.sources.mapping import check_server_id
from producers.sources.prometheus import PrometheusSource
from producers.sources.publishing import Source, run_source


def make_source(kind: str, *, url: str | None, server: str | None) -> Source:
    """The source the command line asks for; ValueError with the reason when it is wrong."""
    server_id = check_server_id(server) if server is not None else None
    if kind == "host":
        if url:
            raise ValueError("--url is for --source prometheus")
        return HostSource(server_id)
    if kind == "prometheus":
        if not url:
            raise ValueError("--source prometheus needs --url (e.g. http://host:9100/metrics)")
        return PrometheusSource(url, server_id)
    raise ValueError(f"unknown source {kind!r}")


def run_real_source(settings: Settings, kind: str, *, url: str | None, server: str | None) -> int:
    try:
        source = make_source(kind, url=url, server=server)
    except ValueError as exc:
        print(f"fleetcast produce: {exc}", file=sys.stderr)
        return 2
    run_source(settings, source)
    return 0
