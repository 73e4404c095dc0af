"""The changelog-backed table of per-server window state (see ``windowing.new_state``)."""

from __future__ import annotations

import faust
from faust.types import TableT

from core.settings import Settings

TABLE = "windows"


def changelog_topic(settings: Settings) -> str:
    """The topic Faust backs the table with (its naming: ``<app id>-<table>-changelog``)."""
    return f"{settings.process_app_id}-{TABLE}-changelog"


def declare(app: faust.App, settings: Settings, partitions: int) -> TableT:
    # Co-partitioned with the metrics topic (same key, same partition count),
    # so each worker owns the state of exactly the servers it consumes.
    return app.Table(
        TABLE,
        default=None,
        # Plain JSON with no key/value types: typed values go through
        # ``Model.from_data`` on changelog recovery, which a dict does not have.
        schema=faust.Schema(key_serializer="json", value_serializer="json"),
        partitions=partitions,
        help="Per-server 24 h step history, open steps and watermark.",
    )
