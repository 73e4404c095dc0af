"""The Alertmanager forwarder against a real Alertmanager (Debian's prometheus-alertmanager).

An alert fires, escalates and resolves on the broker; the forwarder posts each
change; Alertmanager's own API shows the alert firing with fleetcast's labels,
then the escalated label set alone, then nothing active for the server.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.broker import free_port
from core.kafka import make_producer
from core.settings import Settings
from forwarding.delivery import RetryPolicy
from forwarding.payloads import ALERTNAME
from forwarding.service import make_destination, run_forwarder
from schemas.alert import AlertEvent
from tests.helpers import ServiceThread
from tests.peers import needs, peer

pytestmark = [pytest.mark.broker, needs("prometheus-alertmanager", "prometheus-alertmanager")]
WAIT_S = 30.0

CONFIG = """\
route:
  receiver: nowhere
  group_wait: 1s
receivers:
  - name: nowhere
"""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Any:
    """Alertmanager on free ports with its own storage, clustering off; yields its base URL."""
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(CONFIG)
    (tmp_path / "am-data").mkdir()
    command = ["prometheus-alertmanager", f"--config.file={config}",
               f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
               "--cluster.listen-address="]
    base = f"http://127.0.0.1:{port}"
    with peer(command, f"{base}/-/ready", tmp_path / "alertmanager.log"):
        yield base


def active(base: str, server_id: str) -> list[dict[str, Any]]:
    """What Alertmanager's API lists as active for ``server_id`` (resolved alerts drop out)."""
    query = urllib.parse.urlencode({"filter": f'server_id="{server_id}"', "active": "true"})
    with urllib.request.urlopen(f"{base}/api/v2/alerts?{query}", timeout=5) as answer:
        return list(json.loads(answer.read()))


def event(server_id: str, status: str, severity: str, issued_at: datetime) -> AlertEvent:
    return AlertEvent(
        alert_id=f"{server_id}-1", server_id=server_id, profile="database", status=status,
        severity=severity, risk_score={"warning": 65.0, "critical": 85.0}.get(severity, 20.0),
        metric="cpu_pct", summary=f"cpu_pct {severity}", predicted_breach_at=None,
        issued_at=issued_at, model_version="tft-sim-2",
    )


def wait_until(check: Any, what: str) -> Any:
    deadline = datetime.now(UTC) + timedelta(seconds=WAIT_S)
    while True:
        found = check()
        if found:
            return found
        assert datetime.now(UTC) < deadline, f"Alertmanager never showed {what}"
        time.sleep(0.2)


def test_alerts_fire_escalate_and_resolve_in_a_real_alertmanager(
    make_settings: Any, alertmanager: str
) -> None:
    settings: Settings = make_settings(metrics_port_forward=0)
    server = "ppdb042"
    # Issued just now, as the worker issues them: Alertmanager judges endsAt against its clock.
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    producer = make_producer(settings)

    def publish(alert: AlertEvent) -> None:
        producer.produce(settings.topic_alerts, key=server.encode(), value=alert.to_bytes())
        assert producer.flush(10) == 0

    destination = make_destination("alertmanager", alertmanager)
    service = ServiceThread(lambda stop: run_forwarder(
        settings, destination, stop, policy=RetryPolicy(attempts=3, first_delay_s=0.1),
        group_id=f"fwd-{uuid.uuid4().hex[:8]}"))
    try:
        publish(event(server, "firing", "warning", now))
        [fired] = wait_until(lambda: active(alertmanager, server), "the firing alert")
        assert fired["labels"] == {"alertname": ALERTNAME, "severity": "warning",
                                   "server_id": server, "profile": "database",
                                   "metric": "cpu_pct"}
        assert fired["annotations"]["alert_id"] == f"{server}-1"
        assert fired["status"]["state"] == "active"
        assert fired["startsAt"].startswith(now.strftime("%Y-%m-%dT%H:%M:%S"))

        publish(event(server, "firing", "critical", now + timedelta(seconds=10)))
        [escalated] = wait_until(
            lambda: [a for a in active(alertmanager, server)
                     if a["labels"]["severity"] == "critical"]
            if len(active(alertmanager, server)) == 1 else [], "critical alone")
        assert escalated["annotations"]["alert_id"] == f"{server}-1"

        publish(event(server, "resolved", "watch", now + timedelta(seconds=20)))
        wait_until(lambda: active(alertmanager, server) == [], "the alert resolved")
    finally:
        service.shut_down()
