"""Real peers from Debian packages (``make test`` installs them): run one on a free port."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.runtime import terminate


def needs(binary: str, package: str) -> pytest.MarkDecorator:
    """Skip only when the peer is not installed; ``make test`` installs it."""
    return pytest.mark.skipif(shutil.which(binary) is None,
                              reason=f"{binary} not installed (make test installs Debian's "
                              f"{package})")


@contextmanager
def peer(command: Sequence[str], ready_url: str, log: Path, timeout_s: float = 30.0
         ) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until ``ready_url`` answers 200, stop it afterwards."""
    with open(log, "ab") as out:
        process = subprocess.Popen(list(command), stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert process.poll() is None, f"{command[0]} exited: {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            assert time.monotonic() < deadline, f"{command[0]} not ready: {log.read_text()}"
            time.sleep(0.1)
        yield process
    finally:
        terminate(process, timeout_s=10)
