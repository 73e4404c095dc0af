"""Running the Faust worker from the settings (``fleetcast process``)."""

from __future__ import annotations

import faust

from core.kafka import ensure_topics
from core.settings import Settings
from core.telemetry import close_metrics, serve_metrics
from stream_processors.app import create_app


def run(settings: Settings) -> None:
    ensure_topics(settings)
    app = create_app(settings)
    metrics = serve_metrics(settings, "process")
    # Logging stays as the entry point configured it (core.runtime.configure_logging).
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True,
                          override_logging=False)
    try:
        worker.execute_from_commandline()
    finally:
        close_metrics(metrics)
