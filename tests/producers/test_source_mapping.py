"""The real sources' mapping rules, without Kafka: node_exporter pages and psutil samples."""

from __future__ import annotations

from collections import namedtuple
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.sources.host import cpu_seconds, read_host
from producers.sources.mapping import (
    Filesystem,
    Sample,
    disk_pct,
    normalise_server_id,
    to_values,
)
from producers.sources.prometheus import PrometheusSource, parse_page
from producers.sources.publishing import Reading, SampleRejectedError, build_event

FIXTURES = Path(__file__).parent / "fixtures"
GiB = 1024**3


def page(n: int) -> str:
    return (FIXTURES / f"node_exporter_{n}.prom").read_text()


def test_a_node_exporter_page_maps_onto_the_schema():
    first, second = parse_page(page(1), at=100.0), parse_page(page(2), at=115.0)
    assert second.nodename == "web-07.prod.example.com"
    values = to_values(first.sample, second.sample)
    # 60 CPU-seconds passed (4 CPUs x 15 s), 45 of them idle or iowait.
    assert values["cpu_pct"] == 25.0
    assert values["mem_pct"] == 75.0  # 4 GiB available of 16
    # /data is the fullest real disk: 400 GiB used of 475 usable (the reserve excluded);
    # the 100%-full read-only squashfs and the tmpfs mounts do not count.
    assert values["disk_pct"] == round(100 * 400 / 475, 3)
    # eth0 only: lo, docker0 and the veth are left out. 18.75 MB in 15 s = 10 Mbit/s.
    assert values["net_in_mbps"] == 10.0
    assert values["net_out_mbps"] == 2.0
    assert values["latency_ms"] is None and values["error_rate"] is None


def test_the_first_sample_has_gauges_but_no_rates():
    values = to_values(None, parse_page(page(1), at=0.0).sample)
    assert values["mem_pct"] is not None and values["disk_pct"] is not None
    assert values["cpu_pct"] is None and values["net_in_mbps"] is None


def test_a_counter_that_went_backwards_gives_null_not_a_negative_rate():
    # The pages in the wrong order: as after a reboot.
    values = to_values(parse_page(page(2), at=0.0).sample, parse_page(page(1), at=15.0).sample)
    assert values["cpu_pct"] is None
    assert values["net_in_mbps"] is None and values["net_out_mbps"] is None
    assert values["mem_pct"] is not None


@pytest.mark.parametrize("text, reason", [
    ("<html><body>Node Exporter</body></html>", "not Prometheus text format"),
    ("# TYPE x counter\nx{a=\"b\" 1\n", "not Prometheus text format"),
    ("# HELP up Whether up.\n# TYPE up gauge\nup 1\n", "no node_exporter metrics"),
])
def test_a_page_that_is_not_node_exporter_is_rejected_with_the_reason(text, reason):
    with pytest.raises(SampleRejectedError, match=reason) as info:
        parse_page(text, at=0.0)
    assert info.value.raw == text.encode()


def test_disk_pct_counts_like_df_and_skips_pseudo_and_read_only_filesystems():
    root = Filesystem("/", "ext4", size_bytes=100 * GiB, free_bytes=40 * GiB, avail_bytes=35 * GiB)
    snap = Filesystem("/snap/x", "squashfs", 1 * GiB, 0, 0, readonly=True)
    ro = Filesystem("/mnt/iso", "ext4", 1 * GiB, 0, 0, readonly=True)
    shm = Filesystem("/dev/shm", "tmpfs", 1 * GiB, 0, 0)
    assert disk_pct([root, snap, ro, shm]) == pytest.approx(100 * 60 / 95)
    assert disk_pct([snap, shm]) is None


def test_cpu_seconds_leave_guest_time_out_and_idle_and_iowait_count_as_not_busy():
    Times = namedtuple("Times", "user nice system idle iowait irq softirq steal guest guest_nice")
    busy, total = cpu_seconds(Times(10, 1, 4, 80, 5, 0, 0, 0, 7, 1))
    assert (busy, total) == (15, 100)


def test_this_host_reads_into_a_publishable_event():
    first, second = read_host(), read_host()
    event = build_event(Reading("ppsrv901", second), first)
    assert event is not None
    assert event.mem_pct is not None and 0 < event.mem_pct <= 100
    assert event.disk_pct is not None
    assert event.latency_ms is None and event.error_rate is None


def test_mapped_values_a_metric_event_refuses_are_rejected_not_published():
    sample = Sample(at=0.0, mem_total_bytes=100.0, mem_available_bytes=-50.0)  # a broken source
    with pytest.raises(SampleRejectedError, match=r"mem_pct=150\.0 outside"):
        build_event(Reading("ppsrv901", sample, datetime.now(UTC)), None)


@pytest.mark.parametrize("host, expected", [
    ("web01", "web01"),
    ("Web 01.Example.COM", "web-01.example.com"),
    ("_build_box_", "build_box"),
    ("x" * 80, "x" * 64),
])
def test_host_names_are_normalised_to_server_ids(host, expected):
    assert normalise_server_id(host) == expected


def test_a_host_name_with_nothing_usable_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot make a server id"):
        normalise_server_id("___")


def test_the_prometheus_source_wants_an_http_url():
    with pytest.raises(ValueError, match="http"):
        PrometheusSource("node-exporter:9100")
