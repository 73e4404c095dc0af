"""``fleetcast produce --source prometheus`` against a real node_exporter (Debian's
prometheus-node-exporter) on this machine: its metrics reach ``fleetcast.metrics``.

The figures are checked against what psutil reads from the same kernel, so a
mapping that picked the wrong samples from a real page would show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest

from core.broker import free_port
from producers.sources.host import host_server_id
from schemas.metric_event import MetricEvent
from tests.helpers import ServiceProcess
from tests.peers import needs, peer

pytestmark = [pytest.mark.broker,
              needs("prometheus-node-exporter", "prometheus-node-exporter")]
WAIT_S = 60.0


def test_a_real_node_exporter_reaches_the_metrics_topic(
    make_settings: Any, read_topic: Any, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    # Only the collectors the mapping reads: the others cost a scrape time for nothing.
    command = ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
               "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
               "--collector.filesystem", "--collector.netdev", "--collector.uname"]
    settings = make_settings(metrics_port_source=0)
    metrics = read_topic(settings, settings.topic_metrics)
    with peer(command, url, tmp_path / "node_exporter.log"):
        source = ServiceProcess(settings, "produce", "--source", "prometheus", "--url", url,
                                "--interval", "0.5", log_path=str(tmp_path / "produce.log"))
        try:
            metrics.wait_for(lambda ms: sum(1 for m in ms if MetricEvent.model_validate_json(
                m.value()).cpu_pct is not None) >= 2, WAIT_S)
            assert source.alive(), (tmp_path / "produce.log").read_text()
        finally:
            source.stop()
    events = [MetricEvent.model_validate_json(m.value()) for m in metrics.messages]
    # node_exporter's nodename is this host's name: the server id the host source uses too.
    assert {e.server_id for e in events} == {host_server_id()}
    assert all(m.key() == host_server_id().encode() for m in metrics.messages)
    rated = [e for e in events if e.cpu_pct is not None]
    memory = psutil.virtual_memory()
    expected_mem = 100.0 * (1 - memory.available / memory.total)
    for e in rated:
        assert e.cpu_pct is not None and 0.0 <= e.cpu_pct <= 100.0
        assert e.mem_pct == pytest.approx(expected_mem, abs=10.0)
        assert e.disk_pct is not None and 0.0 < e.disk_pct <= 100.0
        assert e.net_in_mbps is not None and e.net_in_mbps >= 0.0
        assert e.latency_ms is None and e.error_rate is None  # node_exporter has neither
    assert [e.timestamp for e in events] == sorted(e.timestamp for e in events)
