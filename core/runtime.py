"""Process-level set-up done once at each entry point: logging and shutdown signals."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, stream=sys.stderr, force=True)
    # librdkafka and aiokafka are chatty about reconnects the services handle.
    for noisy in ("aiokafka", "kafka", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_on_signals(stop: threading.Event | None = None) -> threading.Event:
    """An event set by SIGINT or SIGTERM, for loops that stop cleanly between steps.

    Only the main thread may install signal handlers; elsewhere (a service run
    in a test's thread) the event is returned untouched.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return stop

    def handler(signum: int, _frame: object) -> None:
        logging.getLogger(__name__).info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return stop
