"""The one Faust ``App`` of the stream processor, built from the settings."""

from __future__ import annotations

from pathlib import Path

import faust

from core.settings import Settings
from schemas.topics import TOPIC_BY_ROLE


def create_app(settings: Settings) -> faust.App:
    """Build the app and register its topics, table and agent.

    Start-up speed: the embedded broker answers a JoinGroup only after about
    half the client's rebalance timeout, so Faust's 60 s default meant 30 s in
    "Recovery". Short session and rebalance timeouts (the group here is small
    and local) cut that to a few seconds; they remain overridable through the
    settings' Kafka block if a deployment needs longer ones.
    """
    from stream_processors import agents, exporter, tables, topics
    from stream_processors.agents import STAGE
    from stream_processors.stats import ProcessStats

    datadir = Path(settings.state_dir) / settings.process_app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.process_app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_bootstrap_servers.split(",")],
        broker_credentials=_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        topic_partitions=6,
        topic_replication_factor=1,
        broker_session_timeout=settings.process_session_timeout_s,
        broker_rebalance_timeout=settings.process_session_timeout_s,
        broker_heartbeat_interval=1.0,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Unacked events are replayed after a restart by design (see agents.py),
        # so shutdown must not wait for them.
        stream_wait_empty=False,
        web_enabled=False,
        autodiscover=False,
        table_cleanup_interval=3600,
    )
    declared = topics.declare(app, settings)
    windows_table = tables.declare(app, settings, TOPIC_BY_ROLE["metrics"].partitions)
    # What the agent counts and the metrics page exports: one object handed to both.
    stats = ProcessStats()
    agents.register(app, settings, declared, windows_table, stats)
    exporter.register(app, settings, STAGE, stats)
    return app


def _credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """SASL/TLS settings passed through to Faust's aiokafka clients, as to confluent-kafka's."""
    import ssl

    protocol = settings.kafka_security_protocol.upper()
    context = None
    if "SSL" in protocol:
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism or "PLAIN",
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
