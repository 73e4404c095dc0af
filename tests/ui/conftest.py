"""UI test fixtures: process-wide clients must not leak from one test into the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ui.fleet_state import stop_shared_feeds
from ui.shared import close_shared_producers


@pytest.fixture(autouse=True)
def _fresh_shared_clients() -> Iterator[None]:
    yield
    # Before the session broker goes away, so librdkafka has nothing left to retry.
    stop_shared_feeds()
    close_shared_producers()
