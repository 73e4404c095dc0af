"""The Faust topics the stream processor reads and writes, named by the settings."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from core.settings import Settings
from schemas.topics import TOPIC_BY_ROLE


@dataclass(frozen=True)
class Topics:
    metrics: faust.TopicT
    windows: faust.TopicT
    deadletter: faust.TopicT


def _raw(app: faust.App, settings: Settings, role: str) -> faust.TopicT:
    # Raw bytes in and out: validation is ours, so a bad message becomes a
    # dead letter with a reason instead of an exception inside Faust.
    return app.topic(
        settings.topic(role),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=TOPIC_BY_ROLE[role].partitions,
    )


def declare(app: faust.App, settings: Settings) -> Topics:
    return Topics(
        metrics=_raw(app, settings, "metrics"),
        windows=_raw(app, settings, "windows"),
        deadletter=_raw(app, settings, "deadletter"),
    )
