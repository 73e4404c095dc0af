"""The real sources on the broker: a recorded node_exporter served over HTTP, and this host."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from core.broker import free_port
from producers.sources.host import HostSource
from producers.sources.prometheus import PrometheusSource
from producers.sources.publishing import run_source
from schemas.dead_letter import DeadLetter
from schemas.metric_event import MetricEvent
from tests.helpers import ServiceProcess, ServiceThread

pytestmark = pytest.mark.broker
FIXTURES = Path(__file__).parent / "fixtures"
WAIT_S = 30.0


def recorded(n: int) -> bytes:
    return (FIXTURES / f"node_exporter_{n}.prom").read_bytes()


def events(messages) -> list[MetricEvent]:
    decoded = [MetricEvent.model_validate_json(m.value()) for m in messages]
    assert all(m.key() == e.server_id.encode() for m, e in zip(messages, decoded, strict=True))
    return decoded


def test_a_scraped_node_exporter_becomes_metric_events(make_settings, read_topic, http_stub):
    url = http_stub([(200, recorded(1)), (200, recorded(2))]).base + "/metrics"
    settings = make_settings(source_interval_s=0.2, metrics_port_source=0)
    metrics = read_topic(settings, settings.topic_metrics)
    service = ServiceThread(lambda stop: run_source(settings, PrometheusSource(url), stop))
    try:
        metrics.wait_for(lambda ms: any(e.cpu_pct is not None for e in events(ms)), WAIT_S)
    finally:
        service.shut_down()
    first, second = events(metrics.messages)[:2]
    # The server is the exporter's nodename; the first scrape has no rates yet.
    assert first.server_id == second.server_id == "web-07.prod.example.com"
    assert first.cpu_pct is None and first.net_in_mbps is None
    assert (first.mem_pct, first.disk_pct) == (pytest.approx(75.0, abs=0.1),
                                               pytest.approx(84.2, abs=0.1))
    assert second.cpu_pct == 25.0 and second.mem_pct == 75.0
    assert second.net_in_mbps is not None and second.net_in_mbps > 0
    assert second.latency_ms is None and second.error_rate is None
    assert second.timestamp > first.timestamp


def test_a_page_that_is_not_node_exporter_is_dead_lettered_and_scraping_goes_on(
    make_settings, read_topic, http_stub
):
    url = http_stub([(200, b"<html>login required</html>"), (200, recorded(1))]).base + "/metrics"
    settings = make_settings(source_interval_s=0.2, metrics_port_source=0)
    letters = read_topic(settings, settings.topic_deadletter)
    metrics = read_topic(settings, settings.topic_metrics)
    source = PrometheusSource(url, server_id="ppweb900")
    service = ServiceThread(lambda stop: run_source(settings, source, stop))
    try:
        letters.wait_for(lambda ms: len(ms) >= 1, WAIT_S)
        metrics.wait_for(lambda ms: len(ms) >= 1, WAIT_S)
    finally:
        service.shut_down()
    letter = DeadLetter.model_validate_json(letters.messages[0].value())
    assert letter.stage == "source_prometheus" and letter.source_topic == url
    assert "not Prometheus text format" in letter.reason
    assert letter.payload() == b"<html>login required</html>"
    assert events(metrics.messages)[0].server_id == "ppweb900"


def test_an_exporter_that_is_down_is_retried_not_fatal(make_settings, read_topic):
    settings = make_settings(source_interval_s=0.05, metrics_port_source=0)
    down = f"http://127.0.0.1:{free_port()}/metrics"
    stats = run_source(settings, PrometheusSource(down, server_id="ppweb901"), samples=3)
    assert (stats.failed, stats.published, stats.rejected) == (3, 0, 0)


def test_fleetcast_produce_source_host_publishes_this_machine(make_settings, read_topic, tmp_path):
    port = free_port()
    settings = make_settings(source_interval_s=0.3, metrics_port_source=port)
    metrics = read_topic(settings, settings.topic_metrics)
    process = ServiceProcess(settings, "produce", "--source", "host",
                             log_path=str(tmp_path / "host.log"))
    try:
        seen = metrics.wait_for(lambda ms: any(e.cpu_pct is not None for e in events(ms)),
                                WAIT_S)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            exposed = answer.read().decode()
    finally:
        process.stop()
    host = HostSource().server_id
    assert {e.server_id for e in events(seen)} == {host}
    assert any(e.cpu_pct is not None and e.mem_pct is not None for e in events(seen))
    produced = (f'fleetcast_events_produced_total{{stage="source_host",'
                f'topic="{settings.topic_metrics}"}}')
    assert produced in exposed
    assert 'fleetcast_source_samples_total{outcome="published",source="source_host"}' in exposed
