"""``fleetcast bench ws``: WebSocket clients that never read, on a real ``fleetcast api``
(issue 12, row 8). The goal is asserted: an idle client costs under 1 MB of the API's RSS,
and the client that reads keeps receiving meanwhile."""

from __future__ import annotations

import json

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
def test_idle_clients_cost_under_a_megabyte_while_a_reader_keeps_receiving(capsys):
    assert main(["bench", "ws", "--clients", str(CLIENTS), "--warmup", "6", "--hold", "12",
                 "--settle", "2", "--waves", "1", "--json"]) == 0
    [line] = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]
    figures = json.loads(line)
    assert figures["clients"] == CLIENTS
    assert figures["per_idle_client_mb"] < 1.0, figures
    assert figures["reader_messages"] > 0 and figures["forecasts_per_s"] > 10
