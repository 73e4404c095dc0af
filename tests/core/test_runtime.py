from __future__ import annotations

import os
import signal
import threading

import pytest

from core.runtime import stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_set_stop_in_the_main_thread(sig: signal.Signals) -> None:
    before = signal.getsignal(sig)
    try:
        stop = stop_on_signals()
        os.kill(os.getpid(), sig)
        assert stop.wait(2)
    finally:
        signal.signal(sig, before)


def test_off_the_main_thread_no_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    given = threading.Event()
    returned: list[threading.Event] = []
    worker = threading.Thread(target=lambda: returned.append(stop_on_signals(given)))
    worker.start()
    worker.join()
    assert returned == [given]
    assert signal.getsignal(signal.SIGTERM) == before
