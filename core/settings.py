"""The one settings object: built once at each entry point from the environment, then passed down.

Every variable is ``FLEETCAST_<FIELD>`` except the bootstrap servers, which
also answer to the conventional ``KAFKA_BOOTSTRAP_SERVERS``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.grid import CONTEXT_STEPS, HORIZON_STEPS, STEP_SECONDS
from schemas.topics import TOPICS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLEETCAST_", frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "FLEETCAST_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None

    # Topics (names configurable; defaults come from the catalogue in schemas/topics.py)
    topic_metrics: str = "fleetcast.metrics"
    topic_control: str = "fleetcast.control"
    topic_windows: str = "fleetcast.windows"
    topic_forecasts: str = "fleetcast.forecasts"
    topic_alerts: str = "fleetcast.alerts"
    topic_alert_state: str = "fleetcast.alert-state"
    topic_deadletter: str = "fleetcast.deadletter"
    topic_scenarios: str = "fleetcast.scenarios"

    # Embedded broker
    broker_host: str = "127.0.0.1"
    broker_port: int = 9092

    # Simulator
    servers: int = Field(20, ge=1, le=100_000)
    speed: float = Field(120.0, gt=0, description="Simulated seconds per real second.")
    backfill_hours: float = Field(24.0, ge=0)
    seed: int = 7

    # Control commands the simulator applies, at most (more are dead-lettered).
    control_rate_per_s: float = Field(5.0, gt=0)
    control_burst: int = Field(20, ge=1)

    # Stream processor
    process_app_id: str = "fleetcast-process"
    state_dir: str = ".fleetcast/state"
    step_seconds: int = STEP_SECONDS
    context_steps: int = CONTEXT_STEPS
    grace_seconds: int = Field(60, ge=0, description="How late an event may be, in event time.")
    max_event_skew_days: float = Field(400, gt=0, description="Reject timestamps this far off.")
    max_future_skew_s: float = Field(
        300.0, gt=0,
        description="Reject an event this far ahead of both the wall clock and its server's "
        "latest event: one forged date cannot move a server's state into the future.")
    # Bounded state: a flood of unknown server ids cannot grow a worker's table.
    max_tracked_servers: int = Field(50_000, ge=1, description="Servers per Faust worker.")
    evict_silent_after_s: float = Field(
        3600.0, gt=0, description="Seconds without an event (the stream processor) or a "
        "forecast (the API's and dashboard's read model) after which a server may be evicted.")
    # The embedded broker holds a JoinGroup for about half the rebalance timeout.
    process_session_timeout_s: float = Field(6.0, ge=6, description="Kafka refuses less than 6 s.")

    # Inference worker
    forecaster: Literal["auto", "tft", "baseline"] = Field(
        "auto", description="auto: the TFT at model_path if there is one, else the baseline."
    )
    model_path: str = "models/latest"
    #: Real evaluation data (``nab/``, ``bitbrains/``), relative to the working directory: the
    #: repository root in README's commands, where ``../shared/data`` sits beside the checkout.
    data_dir: str = "../shared/data"
    infer_group_id: str = "fleetcast-infer"
    min_context_steps: int = Field(36, ge=1, description="Shortest context that gets a forecast.")
    horizon_steps: int = HORIZON_STEPS
    # Large enough that a backlog coalesces to one window per server (see service.py).
    batch_size: int = Field(256, ge=1)
    batch_deadline_ms: int = Field(200, ge=1)
    forward_chunk_windows: int = Field(
        64, ge=0, description="Windows per forward pass of the TFT within a batch (0: the whole "
        "batch in one pass); see Serving.chunk_windows.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where the model runs; auto: CUDA when torch sees a GPU."
    )
    autocast_bf16: bool = Field(True, description="On CUDA, run the model under bf16 autocast.")
    # Off: neither has been measured on a GPU yet (see BENCHMARKS.md).
    torch_compile: bool = Field(False, description="torch.compile the model at load.")
    model_reload_min_interval_s: float = Field(
        10.0, ge=0, description="reload_model commands start at most one load per this many "
        "seconds; those in between are coalesced into the next load.")
    model_poll_s: float = Field(
        5.0, ge=0, description="Seconds between checks of models/latest for a new version; 0: off."
    )

    # API and UI
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    ui_host: str = "127.0.0.1"
    ui_port: int = 5006
    api_token: SecretStr | None = None
    # The whole fleet in one process (a Faust worker holds its partitions' share): at about
    # 15 KB a server, 10,000 is ~150 MB; silent ones make room (evict_silent_after_s).
    ui_max_servers: int = Field(
        10_000, ge=1, description="Servers the API's and the dashboard's read model hold; "
        "forecasts of more are refused and counted.")
    ws_max_clients: int = Field(200, ge=1, description="WebSocket clients of one API at once.")
    ws_buffer_bytes: int = Field(
        256 * 1024, ge=1024, description="Bytes a WebSocket client may fall behind by.")
    ws_send_timeout_s: float = Field(10.0, gt=0, description="Longest wait for one send.")
    api_max_body_bytes: int = Field(
        64 * 1024, ge=1, description="Longest request body the API reads; longer ones get 413.")
    ui_cost_per_incident: float = Field(
        25_000.0, ge=0, description="Cost of one incident, for the dashboard's cost avoidance."
    )
    ui_runbooks: str | None = Field(
        None, description="YAML file of runbook hints (kind -> profile -> actions) for the UI."
    )

    # Real metric sources (`fleetcast produce --source host|prometheus`)
    source_interval_s: float = Field(15.0, gt=0, description="Seconds between samples.")

    # Prometheus /metrics of each service (core/telemetry.py); 0 turns one off.
    # The API serves /metrics on its own port (api_port) instead.
    metrics_host: str = "127.0.0.1"
    metrics_port_produce: int = Field(9101, ge=0, le=65535)
    metrics_port_process: int = Field(9102, ge=0, le=65535)
    metrics_port_infer: int = Field(9103, ge=0, le=65535)
    metrics_port_ui: int = Field(9104, ge=0, le=65535)
    metrics_port_source: int = Field(9105, ge=0, le=65535)
    metrics_port_forward: int = Field(9106, ge=0, le=65535)

    log_level: str = "INFO"

    def topic(self, role: str) -> str:
        """The configured name of a catalogue topic, by role (metrics, control, ...)."""
        return str(getattr(self, f"topic_{role}"))

    @cached_property
    def topic_names(self) -> dict[str, str]:
        return {spec.role: self.topic(spec.role) for spec in TOPICS}

    def kafka_security(self) -> dict[str, Any]:
        """librdkafka security properties, shared by every confluent-kafka client."""
        conf: dict[str, Any] = {"security.protocol": self.kafka_security_protocol}
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            conf["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            conf["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_cafile:
            conf["ssl.ca.location"] = self.kafka_ssl_cafile
        return conf
