"""``fleetcast bench ws``: WebSocket clients that never read, on a real ``fleetcast api``
(issue 12, row 8). The bench runs at a small size and reports what it measured: every idle
client connected and held, the reading client kept receiving, the API's RSS before, during
and after. The memory goal itself (under 1 MB per idle client) is met in the benchmark run
recorded in BENCHMARKS.md, not asserted here: a shared CI machine's RSS is no measurement."""

from __future__ import annotations

import json
import math

import pytest

from fleetcast.cli import main
from tests.ui.factories import make_alert, make_forecast
from ui.api import SharedJson

CLIENTS = 40


def test_one_payload_is_serialised_once_for_every_client():
    encode = SharedJson()
    forecast, alert = make_forecast("ppweb001"), make_alert("ppweb001")
    first = encode(forecast)
    assert encode(forecast) is first, "the second client gets the same text"
    assert json.loads(first)["forecast_id"] == forecast.forecast_id
    assert json.loads(encode(alert))["alert_id"] == alert.alert_id
    # A new object is serialised anew, even an equal one.
    again = make_forecast("ppweb001")
    assert encode(again) is not first and encode(again) == first


@pytest.mark.broker
@pytest.mark.slow
def test_the_bench_holds_idle_clients_while_a_reader_keeps_receiving(capsys):
    assert main(["bench", "ws", "--clients", str(CLIENTS), "--warmup", "6", "--hold", "12",
                 "--settle", "2", "--waves", "1", "--json"]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    figures = json.loads(line)
    assert figures["clients"] == CLIENTS
    assert all(math.isfinite(figures[k]) for k in (
        "rss_baseline_mb", "rss_peak_mb", "per_idle_client_mb")), figures
    assert figures["reader_messages"] > 0 and figures["forecasts_per_s"] > 10
