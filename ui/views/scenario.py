"""Scenario control: fleet-wide and per-server scenarios, published to the control topic."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import partial

import pandas as pd
import panel as pn
from confluent_kafka import KafkaException
from pydantic import ValidationError

from core.control import ControlNotDeliveredError, publish_scenario
from schemas.control_event import SCENARIOS
from ui.auth import Verdict, check_token
from ui.fleet_state import FleetState
from ui.views.common import Context, Redraw, label

log = logging.getLogger(__name__)

WHOLE_FLEET = "whole fleet"
DESCRIPTIONS = {
    "healthy": "back to normal (settles over about 30 simulated minutes); fleet-wide it clears "
               "every override",
    "degrading": "a slow failure that fits the profile (memory leak, disk fill or creeping "
                 "load); fleet-wide a quarter of the servers",
    "critical": "straight to critical levels; fleet-wide half of the servers",
    "heavy_load": "a surge of CPU, network and latency for 8-12 simulated minutes",
    "memory_leak": "memory climbs until it runs out",
    "disk_fill": "the disk fills up; writes start failing at the end",
    "creeping_load": "CPU load creeps up towards saturation",
    "maintenance": "planned maintenance: the server goes quiet",
}
OVERRIDE_COLUMNS = ["server", "scenario", "since"]


def overrides_frame(state: FleetState) -> tuple[str, pd.DataFrame]:
    """A line on the servers in a scenario and the last refused command, and the servers in a
    scenario as a table: what the simulator applied, not what was asked."""
    servers = state.overrides()
    refusals = state.refusals()
    text = f"{len(servers)} server(s) in a scenario."
    if refusals:
        last = refusals[0]
        named = f"{last.servers_named} server(s)" if last.servers_named else WHOLE_FLEET
        text += (f" Last refused: **{label(last.scenario)}** for {named} at "
                 f"{last.at:%H:%M:%S} UTC ({len(refusals)} kept): {last.reason[:200]}")
    frame = pd.DataFrame(
        [[sid, label(o.scenario), f"{o.since:%H:%M:%S} UTC"] for sid, o in servers.items()],
        columns=OVERRIDE_COLUMNS,
    )
    return text, frame


class ScenarioView(Redraw):
    title = "Scenarios"

    def __init__(self, context: Context) -> None:
        self.state = context.state
        self.settings = context.settings
        self._services = context.services
        self._server_ids: list[str] = []
        # Scenario changes are writes: the same operator token as the API's POST /scenario.
        self.token = pn.widgets.PasswordInput(
            name="Operator token", placeholder="FLEETCAST_API_TOKEN", width=260,
            css_classes=["fc-token"],
        )
        self.target = pn.widgets.Select(label="Target", options={WHOLE_FLEET: ""}, value="",
                                        width=260, css_classes=["fc-target"])
        self.buttons = {
            scenario: pn.widgets.Button(
                label=label(scenario), color="success" if scenario == "healthy" else
                "danger" if scenario == "critical" else "default", width=130,
            )
            for scenario in SCENARIOS
        }
        for scenario, button in self.buttons.items():
            button.on_click(partial(self._on_button, scenario))
        self.last_command = pn.pane.Alert("No command sent yet.", alert_type="light")
        self.fleet_override = pn.pane.Markdown()
        self.overrides = pn.widgets.Tabulator(
            pd.DataFrame(columns=OVERRIDE_COLUMNS), show_index=False, disabled=True,
            sizing_mode="stretch_width",
        )
        rows = [pn.Row(button, pn.pane.Markdown(DESCRIPTIONS[s], margin=(8, 5), width=480))
                for s, button in self.buttons.items()]
        self.layout = pn.Row(
            pn.Column("### Send a scenario to the simulator", self.token, self.target, *rows,
                      self.last_command, width=660),
            pn.Column("### Active overrides", self.fleet_override, self.overrides,
                      pn.pane.Markdown("Read from the scenarios topic: what the simulator "
                                       "applied or refused, not what was asked.",
                                       styles={"color": "#555"}),
                      sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        server_ids = self.state.server_ids()
        if server_ids != self._server_ids:  # resending the options would reset an open dropdown
            self._server_ids = server_ids
            self.target.options = {WHOLE_FLEET: "", **{sid: sid for sid in server_ids}}
        fleet_text, frame = overrides_frame(self.state)
        self.fleet_override.object = fleet_text
        self.overrides.value = frame

    def send(self, scenario: str) -> None:
        """Publish ``scenario`` for the selected target and report the outcome on the page."""
        servers = [self.target.value] if self.target.value else []
        target = ", ".join(servers) or WHOLE_FLEET
        # ``value_input`` follows every keystroke; ``value`` only a blur or Enter, which a click
        # on a button can overtake (the token typed, then a button pressed at once).
        verdict = check_token(self.settings, self.token.value_input or self.token.value)
        if verdict is not Verdict.ALLOWED:
            log.warning("scenario %s for %s refused: %s", scenario, target, verdict.value)
            self.last_command.object = f"Not sent: {verdict.value}."
            self.last_command.alert_type = "warning"
            return
        try:
            publish_scenario(self.settings, self._services.producer(), scenario, servers)
        except (ValidationError, KafkaException, BufferError, ControlNotDeliveredError) as exc:
            log.warning("scenario %s for %s not sent: %s", scenario, target, exc)
            self.last_command.object = f"Could not send **{label(scenario)}** to {target}: {exc}"
            self.last_command.alert_type = "danger"
            return
        sent_at = datetime.now(UTC)
        self.last_command.object = (
            f"Last command: **{label(scenario)}** to {target} at {sent_at:%H:%M:%S} UTC"
        )
        self.last_command.alert_type = "success"

    def _on_button(self, scenario: str, _event: object) -> None:
        self.send(scenario)
