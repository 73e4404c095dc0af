"""``/metrics`` on every service: scraped from the running processes, counters must move."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.broker import free_port
from core.telemetry import fields
from tests.helpers import ServiceProcess

WAIT_S = 120.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text) for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over the series that carry ``labels`` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def until_scraped(url: str, check: Callable[[Samples], bool], timeout_s: float = WAIT_S
                  ) -> Samples:
    """Scrape ``url`` until ``check`` holds; fails the test with the last scrape otherwise."""
    deadline = time.monotonic() + timeout_s
    last: Samples = {}
    while time.monotonic() < deadline:
        try:
            last = scrape(url)
        except (urllib.error.URLError, ConnectionError):
            last = {}  # not listening yet
        if check(last):
            return last
        time.sleep(0.5)
    fleetcast = sorted(f"{n}{dict(labels)}={v}" for (n, labels), v in last.items()
                       if n.startswith("fleetcast_"))
    raise AssertionError(f"{url} never satisfied the check; last scrape: {fleetcast}")


def test_fields_quote_what_needs_quoting():
    assert fields(topic="fleetcast.metrics", partition=2, offset=None, reason='a "b" c') == (
        'topic=fleetcast.metrics partition=2 offset=- reason="a \\"b\\" c"')


@pytest.mark.broker
@pytest.mark.slow
def test_every_service_serves_metrics_that_move(make_settings, tmp_path):
    ports = {name: free_port() for name in ("produce", "process", "infer", "ui")}
    settings = make_settings(
        servers=3, speed=600.0, backfill_hours=1.0, api_port=free_port(), ui_port=free_port(),
        **{f"metrics_port_{name}": port for name, port in ports.items()},
    )
    urls = {name: f"http://127.0.0.1:{port}/metrics" for name, port in ports.items()}
    urls["api"] = f"http://127.0.0.1:{settings.api_port}/metrics"
    services = [ServiceProcess(settings, name, log_path=str(tmp_path / f"{name}.log"))
                for name in ("process", "infer", "produce", "api", "ui")]
    metrics, windows = settings.topic_metrics, settings.topic_windows
    try:
        produce = until_scraped(urls["produce"], lambda s: value(
            s, "fleetcast_events_produced_total", stage="produce", topic=metrics) >= 3 * 60)
        process = until_scraped(urls["process"], lambda s: value(
            s, "fleetcast_events_produced_total", stage="process", topic=windows) > 0)
        infer = until_scraped(urls["infer"], lambda s: value(
            s, "fleetcast_inference_latency_seconds_count") > 0)
        api = until_scraped(urls["api"], lambda s: value(
            s, "fleetcast_feed_applied_total", service="api") > 0)
        ui = until_scraped(urls["ui"], lambda s: value(
            s, "fleetcast_feed_applied_total", service="ui") > 0)
    finally:
        for service in reversed(services):
            service.stop()
    assert value(produce, "fleetcast_service_info", service="produce") == 1
    assert value(process, "fleetcast_events_consumed_total", stage="process", topic=metrics) > 0
    assert any(n == "fleetcast_consumer_lag" and ("stage", "process") in labels
               for n, labels in process)
    assert value(infer, "fleetcast_events_consumed_total", stage="infer", topic=windows) > 0
    assert value(infer, "fleetcast_events_produced_total", stage="infer",
                 topic=settings.topic_forecasts) > 0
    assert value(infer, "fleetcast_batch_size_count", stage="infer") > 0
    [model] = [dict(labels) for n, labels in infer if n == "fleetcast_model_info"]
    assert model["kind"] == "SeasonalNaiveTrend" and model["version"]  # the baseline, as asked
    assert any(n == "fleetcast_consumer_lag" and ("stage", "infer") in labels
               for n, labels in infer)
    assert value(api, "fleetcast_feed_undecodable_total", service="api") == 0
    assert value(ui, "fleetcast_feed_applied_total", service="ui") > 0
