"""The whole stack from one command on the real broker, read by an outside consumer."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.broker import free_port
from fleetcast.stack import child_env
from schemas.alert import AlertEvent
from schemas.forecast import Forecast
from schemas.severity import rank
from tests.helpers import ServiceProcess

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SPEED = 360.0  # 3 simulated hours in 30 real seconds
TARGET = "ppdb001"


def fleetcast(settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetcast.cli", *args], env=child_env(settings),
        capture_output=True, text=True, timeout=timeout, check=True,
    )


def test_stack_stays_quiet_when_healthy_and_alerts_on_critical(make_settings, read_topic, tmp_path):
    # The shipped model, as `make run` uses it; "tft" fails loudly if it cannot be loaded.
    settings = make_settings(servers=20, speed=SPEED, api_port=free_port(), forecaster="tft")
    shipped = Path(settings.model_path).read_text().strip()
    forecasts = read_topic(settings, settings.topic_forecasts)
    alerts = read_topic(settings, settings.topic_alerts)
    # The producer's simulated clock starts at the wall clock: the backfill ends there.
    live_from = datetime.now(UTC)
    # --no-host: this machine, busy running the tests, is not part of the quiet healthy fleet.
    stack = ServiceProcess(settings, "up", "--no-ui", "--no-host",
                           log_path=str(tmp_path / "up.log"))
    try:
        # Healthy: forecasts for the backfilled day and 3 simulated hours after it.
        forecasts.wait_for(lambda ms: len(ms) > 0, timeout_s=90)
        forecasts.wait_for(
            lambda ms: any(Forecast.model_validate_json(m.value()).start
                           >= live_from + timedelta(hours=3) for m in ms[-40:]),
            timeout_s=150,
        )
        seen = [Forecast.model_validate_json(m.value()) for m in forecasts.messages]
        assert {f.server_id for f in seen} >= {TARGET, "ppml0001", "ppweb001", "ppsrv001"}
        assert {f.model_version for f in seen} == {shipped}
        assert any(f.status == "ok" and len(f.quantiles) == 7 for f in seen)
        worst = max(seen, key=lambda f: rank(f.severity))
        assert rank(worst.severity) <= rank("watch"), f"healthy fleet raised {worst.severity}: " \
            f"{worst.server_id} risk {worst.risk_score} on {worst.risk_metric}"
        alerts.poll(1.0)
        assert alerts.messages == [], "no alert while the whole fleet is healthy"

        # Critical for one server: an outside consumer sees it fire within 90 s.
        published_at = time.monotonic()
        result = fleetcast(settings, "scenario", "critical", "--servers", TARGET)
        assert '"scenario":"critical"' in result.stdout

        def fired(messages) -> bool:
            events = [AlertEvent.model_validate_json(m.value()) for m in messages]
            return any(e.server_id == TARGET and e.status == "firing"
                       and rank(e.severity) >= rank("danger") for e in events)

        alerts.wait_for(fired, timeout_s=90)
        assert time.monotonic() - published_at < 90
        events = [AlertEvent.model_validate_json(m.value()) for m in alerts.messages]
        assert {e.server_id for e in events} == {TARGET}, "only the degraded server alerts"

        # `fleetcast alerts` prints the same alert as JSON lines.
        printed = fleetcast(settings, "alerts").stdout.splitlines()
        lines = [AlertEvent.model_validate_json(line) for line in printed]
        assert any(a.server_id == TARGET and rank(a.severity) >= rank("danger") for a in lines)
    finally:
        stack.stop()
    assert stack.process.returncode == 0, "Ctrl-C/SIGTERM stops the stack cleanly"
