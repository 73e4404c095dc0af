"""Process-level set-up done once at each entry point: logging and shutdown signals."""

from __future__ import annotations

import logging
import signal
import sys
import threading

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
    # librdkafka and aiokafka are chatty about reconnects the services handle.
    for noisy in ("aiokafka", "kafka", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM, for loops that stop cleanly between steps."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
