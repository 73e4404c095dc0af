"""Running the Faust worker from the settings (``fleetcast process``)."""

from __future__ import annotations

import faust

from fleetcast.kafka import ensure_topics
from fleetcast.settings import Settings
from stream_processors.app import create_app


def run(settings: Settings) -> None:
    ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
