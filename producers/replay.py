"""Replay recorded metrics onto ``fleetcast.metrics``, as fast as possible or paced by event time.

Two input forms, each as CSV or Parquet (chosen by the file extension:
``.csv``; ``.parquet`` or ``.pq``):

``wide``
    The ``MetricEvent`` columns: ``server_id``, ``timestamp`` and any subset
    (at least one) of ``cpu_pct, mem_pct, disk_pct, net_in_mbps,
    net_out_mbps, latency_ms, error_rate``; an optional ``schema_version``
    column must hold 1. An empty cell (a null in Parquet) is a metric the host
    did not measure. Any other column is an error for the whole file.
``nab``
    The Numenta Anomaly Benchmark form: ``timestamp,value``, one metric of
    one server per file; the caller names the metric (one of
    ``schemas.common.METRICS``) and the server. ``scale`` multiplies every
    value before validation, for unit conversion (it must be finite and
    above 0; the default 1 leaves values as they are). Bytes per second to
    megabits/s is ``scale = 8e-6``; bytes per 5-minute period (a CloudWatch
    ``NetworkIn`` sum, as NAB's network series may be: check the source) to
    megabits/s is ``scale = 8e-6 / 300``; an error rate recorded as a
    percentage takes ``scale = 0.01``. Bounds are checked on the scaled value.

Timestamps are ISO 8601 (``2014-02-14 14:27:00``, ``2024-06-03T10:00:00+02:00``,
``...Z``) or, in Parquet, timestamp columns. A timestamp without a time zone
is taken as UTC (NAB's are all naive); all are published in UTC.

A row that cannot be an event (a value that is not a number, NaN or infinite,
outside the metric's physical bounds, a bad timestamp or server id, the wrong
number of fields) is not dropped: it is kept in the plan and published to the
dead-letter topic with stage ``replay``, the file path as ``source_topic``,
its location and the reason in ``reason``, and the row's original bytes (for
CSV, the line as it is in the file without its line break; for Parquet, the
row as JSON) as the payload. Problems that would spoil every row (an unknown
metric name, a missing or unknown column, an unreadable file) raise
``ValueError`` before anything is published.

Events from all files are merged and sent in event-time order, keyed by
``server_id``. ``speed`` is simulated (event-time) seconds per real second, as
for the simulator: at 600, events five minutes apart go out half a second
apart; ``None`` sends as fast as the broker takes them. Note that the stream
processor refuses events more than ``max_event_skew_days`` (400) from now (and more than
``max_future_skew_s`` (300 s) ahead of both the wall clock and the server's latest event);
replaying old recordings such as NAB's (2013-2015) through it needs
``FLEETCAST_MAX_EVENT_SKEW_DAYS`` raised for the processor.

A frame already on the 5-minute grid (e.g. the Bitbrains trace, which the
CLI loads with ``modelling.bitbrains`` and hands over: this layer does not
import modelling) becomes a plan with ``plan_from_wide``: one event per row
and step start, NaN cells left out, a row with no value at all skipped (no
reading then). Values outside a metric's physical bounds are clipped to them
and counted (``ReplayPlan.clipped``): Bitbrains records CPU against
provisioned capacity, up to 154.6 %; the event contract stops at 100, and
clipping keeps the saturation (dropping the row would also drop the memory
reading and hide the incident).

The plan holds every event in memory (sorting needs them all): fine for
recordings of a few million rows, not for more.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from os import PathLike
from pathlib import Path
from typing import Any, Final, Literal

from confluent_kafka import KafkaError, Message
from pydantic import TypeAdapter, ValidationError

from core.kafka import dead_letter, ensure_topics, make_producer
from core.runtime import stop_on_signals
from core.settings import Settings
from producers.backpressure import produce_patiently
from schemas.common import METRIC_BOUNDS, METRICS, ServerId, describe_validation_error
from schemas.metric_event import MetricEvent

log = logging.getLogger(__name__)

Format = Literal["wide", "nab"]
FORMATS: Final = ("wide", "nab")
STAGE: Final = "replay"

_CSV_SUFFIXES: Final = (".csv",)
_PARQUET_SUFFIXES: Final = (".parquet", ".pq")
_WIDE_REQUIRED: Final = ("server_id", "timestamp")
_WIDE_OPTIONAL: Final = ("schema_version",)
_NAB_COLUMNS: Final = ("timestamp", "value")
#: Longest real wait between checks of ``stop`` while pacing.
_MAX_WAIT_S: Final = 0.2
#: Serve delivery reports at least this often (in produced messages).
_POLL_EVERY: Final = 1_000
#: How long to wait for the last messages to be delivered; shorter once stopped.
_FLUSH_TIMEOUT_S: Final = 30.0
_FLUSH_TIMEOUT_STOPPED_S: Final = 5.0
_FLUSH_STEP_S: Final = 0.5
#: How much of an offending cell a reason quotes.
_QUOTE_CHARS: Final = 60

_server_id: TypeAdapter[str] = TypeAdapter(ServerId)


@dataclass(frozen=True)
class RejectedRow:
    """A row that is not a valid event, where it is and why."""

    file: str
    #: 1-based data row number (the header is not a row; blank lines are skipped).
    row: int
    #: For CSV, the line of the file the row starts on (the header is line 1); None for Parquet.
    line: int | None
    reason: str
    #: The original row: the CSV line(s) without the line break, or the Parquet row as JSON.
    text: str

    @property
    def raw(self) -> bytes:
        """The original bytes (undecodable bytes in a CSV come back as they were)."""
        return self.text.encode("utf-8", "surrogateescape")

    @property
    def location(self) -> str:
        return f"line {self.line}" if self.line is not None else f"row {self.row}"


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay will send: valid events in event-time order, and the rejected rows."""

    events: tuple[MetricEvent, ...]
    rejects: tuple[RejectedRow, ...]
    files: tuple[str, ...]
    #: Values clipped to their metric's bounds (``plan_from_wide`` only).
    clipped: int = 0


@dataclass(frozen=True)
class ReplayStats:
    """How a replay went. ``produced`` counts events handed to the producer."""

    events: int
    produced: int
    dead_lettered: int
    #: Messages (events or dead letters) the broker did not take (delivery errors).
    failed: int
    #: Messages still queued when the final flush gave up.
    unsent: int
    #: Events not sent because the replay was stopped.
    skipped: int
    stopped: bool
    elapsed_s: float


class _RowRejectedError(ValueError):
    """One row's reason for the dead letter."""


@dataclass(frozen=True)
class _Row:
    number: int
    line: int | None
    cells: dict[str, Any] | None  # None: the row could not be split into the columns
    text: str
    problem: str = ""


# --- loading -----------------------------------------------------------------------------


def check_metric(metric: str | None) -> str:
    """The metric name if it is one of ``METRICS``; otherwise a ValueError listing them."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}: expected one of {', '.join(METRICS)}")
    return metric


def check_speed(speed: float | None) -> float | None:
    """``speed`` if it is None or a finite number above 0; otherwise a ValueError."""
    if speed is not None and not (math.isfinite(speed) and speed > 0):
        raise ValueError(
            f"speed must be a number above 0 (simulated seconds per real second), got {speed}"
        )
    return speed


def load_events(
    paths: Sequence[str | PathLike[str]] | str | PathLike[str],
    *,
    fmt: Format,
    metric: str | None = None,
    server: str | None = None,
    scale: float = 1.0,
) -> ReplayPlan:
    """Read recorded metrics: the valid events sorted by timestamp, and the rejected rows.

    Raises ValueError for what spoils a whole file or call (an unknown format,
    metric or file type; a missing ``metric``/``server`` for ``nab``; a bad
    header) and OSError for a file that cannot be read.
    """
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "nab":
        metric = check_metric(metric)
        if server is None:
            raise ValueError("the nab format needs the server the values belong to (--server)")
        try:
            server = _server_id.validate_python(server)
        except ValidationError as exc:
            raise ValueError(f"invalid server {server!r}: {describe_validation_error(exc)}") \
                from None
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a finite number above 0, got {scale}")
    elif metric is not None or server is not None or scale != 1.0:
        raise ValueError("metric, server and scale apply to the nab format only")
    if not paths:
        raise ValueError("no files to replay")
    for path in paths:
        _reader_for(Path(path))  # an unsupported extension fails before any file is read

    events: list[MetricEvent] = []
    rejects: list[RejectedRow] = []
    for path in paths:
        name = str(path)
        rows = _reader_for(Path(path))(Path(path), fmt)
        for row in rows:
            try:
                if row.cells is None:
                    raise _RowRejectedError(row.problem)
                if fmt == "nab":
                    assert metric is not None and server is not None
                    event = _nab_event(row.cells, metric=metric, server=server, scale=scale)
                else:
                    event = _wide_event(row.cells)
            except _RowRejectedError as exc:
                location = f"line {row.line}" if row.line is not None else f"row {row.number}"
                rejects.append(RejectedRow(file=name, row=row.number, line=row.line,
                                           reason=f"{location}: {exc}", text=row.text))
                continue
            events.append(event)
    events.sort(key=lambda event: event.timestamp)  # stable: ties keep file and row order
    log.info("loaded %d events and %d rejected rows from %d file(s)",
             len(events), len(rejects), len(paths))
    return ReplayPlan(events=tuple(events), rejects=tuple(rejects),
                      files=tuple(str(p) for p in paths))


def plan_from_wide(wide: Any, source: str) -> ReplayPlan:
    """A plan from a wide frame (``server_id``, ``timestamp``, metric columns; NaN: none).

    ``wide`` is a pandas DataFrame; ``source`` names where it came from (logged and kept
    in ``files``). See the module docstring for empty rows and clipping.
    """
    import numpy as np
    import pandas as pd

    columns = [name for name in METRICS if name in wide.columns]
    if not columns:
        raise ValueError(f"{source}: no metric columns (expected some of {', '.join(METRICS)})")
    values = wide[columns].to_numpy(np.float64)
    bounds = np.array([METRIC_BOUNDS[name] for name in columns])
    finite = np.isfinite(values)
    clipped_values = np.clip(values, bounds[:, 0], bounds[:, 1])
    clipped = int((finite & (clipped_values != values)).sum())
    stamps = pd.to_datetime(wide["timestamp"], utc=True).dt.to_pydatetime()
    servers = wide["server_id"].astype(str).to_numpy()
    events = []
    for row in np.flatnonzero(finite.any(axis=1)):
        fields = {name: float(clipped_values[row, c])
                  for c, name in enumerate(columns) if finite[row, c]}
        events.append(MetricEvent(server_id=servers[row], timestamp=stamps[row], **fields))
    events.sort(key=lambda event: event.timestamp)
    log.info("%s: %d events from %d rows, %d values clipped to their bounds",
             source, len(events), len(wide), clipped)
    return ReplayPlan(events=tuple(events), rejects=(), files=(source,), clipped=clipped)


def _reader_for(path: Path) -> Callable[[Path, Format], Iterator[_Row]]:
    suffix = path.suffix.lower()
    if suffix in _CSV_SUFFIXES:
        return _csv_rows
    if suffix in _PARQUET_SUFFIXES:
        return _parquet_rows
    raise ValueError(
        f"{path}: unsupported file type {suffix or '(none)'!r}: expected "
        f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}"
    )


def _check_header(path: Path, columns: Sequence[str], fmt: Format) -> None:
    if len(set(columns)) != len(columns):
        duplicates = sorted({c for c in columns if list(columns).count(c) > 1})
        raise ValueError(f"{path}: duplicate column(s) {', '.join(duplicates)}")
    if fmt == "nab":
        required: tuple[str, ...] = _NAB_COLUMNS
        allowed: tuple[str, ...] = _NAB_COLUMNS
    else:
        required = _WIDE_REQUIRED
        allowed = _WIDE_REQUIRED + METRICS + _WIDE_OPTIONAL
    missing = [c for c in required if c not in columns]
    unknown = [c for c in columns if c not in allowed]
    if fmt == "nab":
        expected = f"the columns {','.join(_NAB_COLUMNS)}"
    else:
        expected = (f"the columns {', '.join(_WIDE_REQUIRED)} and at least one of "
                    f"{', '.join(METRICS)}")
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if fmt == "wide" and not any(c in METRICS for c in columns):
        problems.append("no metric column")
    if problems:
        raise ValueError(f"{path}: not the {fmt} form ({'; '.join(problems)}): expected {expected}")


class _LineTap:
    """Hands a file's lines to ``csv.reader`` and keeps those of the current record."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.taken: list[str] = []
        self.count = 0

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        self.count += 1
        return line

    def record(self) -> tuple[int, str]:
        """The first line number and text (no final line break) of the record just read."""
        first = self.count - len(self.taken) + 1
        text = "".join(self.taken)
        self.taken.clear()
        if text.endswith("\n"):
            text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        return first, text


def _csv_rows(path: Path, fmt: Format) -> Iterator[_Row]:
    # surrogateescape: bytes that are not UTF-8 survive to the dead letter unchanged.
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
        tap = _LineTap(handle)
        reader = csv.reader(tap)
        header = next(reader, None)
        tap.record()
        if header is None:
            raise ValueError(f"{path}: empty file (no header)")
        columns = [c.strip() for c in header]
        if columns:
            columns[0] = columns[0].removeprefix("\ufeff")  # a UTF-8 byte order mark
        _check_header(path, columns, fmt)
        number = 0
        try:
            for fields in reader:
                line, text = tap.record()
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # a blank line is not a row
                number += 1
                if len(fields) != len(columns):
                    yield _Row(number, line, None, text,
                               f"{len(fields)} field(s), expected {len(columns)} "
                               f"({','.join(columns)})")
                    continue
                yield _Row(number, line, dict(zip(columns, fields, strict=True)), text)
        except csv.Error as exc:
            raise ValueError(f"{path}: line {tap.count}: not readable as CSV: {exc}") from None


def _parquet_rows(path: Path, fmt: Format) -> Iterator[_Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        columns = list(parquet.schema_arrow.names)
    except pa.ArrowInvalid as exc:  # not a Parquet file; OSError passes through
        raise ValueError(f"{path}: not readable as Parquet: {exc}") from None
    _check_header(path, columns, fmt)
    number = 0
    for batch in parquet.iter_batches():
        for cells in batch.to_pylist():
            number += 1
            text = json.dumps(cells, default=str, ensure_ascii=False)
            yield _Row(number, None, cells, text)


def _quote(value: object) -> str:
    text = str(value).strip()
    if len(text) > _QUOTE_CHARS:
        text = text[:_QUOTE_CHARS] + "..."
    return repr(text)


def _number(name: str, cell: object, *, required: bool) -> float | None:
    """A cell as a finite float; None for an empty cell unless ``required``."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        if required:
            raise _RowRejectedError(f"{name}: empty (no value)")
        return None
    if isinstance(cell, bool):
        raise _RowRejectedError(f"{name}: {_quote(cell)} is not a number")
    try:
        value = float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _RowRejectedError(f"{name}: {_quote(cell)} is not a number") from None
    if math.isnan(value):
        raise _RowRejectedError(f"{name}: NaN is not a measurement")
    if math.isinf(value):
        raise _RowRejectedError(f"{name}: {_quote(cell)} is infinite")
    return value


def _timestamp(cell: object) -> datetime:
    """A cell as an aware UTC datetime; a naive one is taken as UTC."""
    if isinstance(cell, datetime):
        stamp = cell
    elif isinstance(cell, str) and cell.strip():
        try:
            stamp = datetime.fromisoformat(cell.strip())
        except ValueError:
            raise _RowRejectedError(
                f"timestamp: {_quote(cell)} is not an ISO 8601 date-time"
            ) from None
    elif cell is None or isinstance(cell, str):
        raise _RowRejectedError("timestamp: empty (no value)")
    else:
        raise _RowRejectedError(f"timestamp: {_quote(cell)} is not a date-time")
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        return stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _event(fields: dict[str, Any], note: str = "") -> MetricEvent:
    try:
        return MetricEvent(**fields)
    except ValidationError as exc:
        raise _RowRejectedError(describe_validation_error(exc) + note) from None


def _nab_event(cells: dict[str, Any], *, metric: str, server: str, scale: float) -> MetricEvent:
    stamp = _timestamp(cells["timestamp"])
    value = _number("value", cells["value"], required=True)
    assert value is not None
    scaled = value * scale
    note = ""
    if scale != 1.0:
        if not math.isfinite(scaled):
            raise _RowRejectedError(f"value {value} x scale {scale} is not finite")
        note = f" (value {value} x scale {scale})"
    return _event({"server_id": server, "timestamp": stamp, metric: scaled}, note)


def _wide_event(cells: dict[str, Any]) -> MetricEvent:
    fields: dict[str, Any] = {}
    server = cells["server_id"]
    fields["server_id"] = server.strip() if isinstance(server, str) else server
    fields["timestamp"] = _timestamp(cells["timestamp"])
    version = cells.get("schema_version")
    if version is not None and str(version).strip() not in ("", "1"):
        raise _RowRejectedError(f"schema_version: {_quote(version)}, expected 1")
    for name in METRICS:
        if name in cells:
            fields[name] = _number(name, cells[name], required=False)
    return _event(fields)


# --- publishing ----------------------------------------------------------------------------


class _Deliveries:
    """Counts the messages the broker did not take, logging sparingly."""

    def __init__(self) -> None:
        self.failed = 0

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            return
        self.failed += 1
        if self.failed % 1_000 == 1:
            log.error("replayed messages not delivered (%d so far), e.g. to %s: %s",
                      self.failed, message.topic(), error)


def _installed_handlers() -> dict[int, Any]:
    """The current SIGINT/SIGTERM handlers, to put back after a replay run from the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def run_replay(
    settings: Settings,
    plan: ReplayPlan,
    *,
    speed: float | None,
    stop: threading.Event | None = None,
) -> ReplayStats:
    """Publish the plan: rejected rows to the dead-letter topic, then the events in order.

    Events go to ``settings.topic_metrics`` keyed by server id. With ``speed``
    they are paced by event time (the first goes at once); with None, as fast
    as the broker takes them. Stops early, between events, when ``stop`` is
    set or on SIGINT/SIGTERM (from the main thread; the previous handlers are
    put back on return). Flushes before returning.
    """
    speed = check_speed(speed)
    previous = _installed_handlers()
    stop = stop_on_signals(stop)
    try:
        return _publish(settings, plan, speed, stop)
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


def _publish(
    settings: Settings, plan: ReplayPlan, speed: float | None, stop: threading.Event
) -> ReplayStats:
    ensure_topics(settings)
    deliveries = _Deliveries()
    producer = make_producer(settings, on_delivery=deliveries)
    started = time.monotonic()
    log.info("replaying %d events from %d file(s) to %s at %s; %d rejected rows to %s",
             len(plan.events), len(plan.files), settings.topic_metrics,
             f"{speed:g}x" if speed is not None else "full speed", len(plan.rejects),
             settings.topic_deadletter)

    # Dead letters first: a replay stopped early still accounts for every bad row.
    dead_lettered = 0
    for reject in plan.rejects:
        send_letter = partial(dead_letter, settings, producer, stage=STAGE,
                              reason=reject.reason, source_topic=reject.file,
                              value=reject.raw)
        if not produce_patiently(producer, stop, send_letter):
            break
        dead_lettered += 1

    produced = 0
    first = plan.events[0].timestamp if plan.events else None
    paced_from = time.monotonic()
    for event in plan.events:
        if speed is not None and first is not None:
            due = paced_from + (event.timestamp - first).total_seconds() / speed
            while (wait := due - time.monotonic()) > 0 and not stop.is_set():
                producer.poll(min(wait, _MAX_WAIT_S))
        if stop.is_set():
            break
        send = partial(producer.produce, settings.topic_metrics,
                       key=event.server_id.encode(), value=event.to_bytes())
        if not produce_patiently(producer, stop, send):
            break
        produced += 1
        if produced % _POLL_EVERY == 0:
            producer.poll(0)

    stopped = stop.is_set()
    budget = _FLUSH_TIMEOUT_STOPPED_S if stopped else _FLUSH_TIMEOUT_S
    deadline = time.monotonic() + budget
    unsent = producer.flush(_FLUSH_STEP_S)
    while unsent and time.monotonic() < deadline:
        unsent = producer.flush(_FLUSH_STEP_S)

    stats = ReplayStats(
        events=len(plan.events), produced=produced, dead_lettered=dead_lettered,
        failed=deliveries.failed, unsent=unsent, skipped=len(plan.events) - produced,
        stopped=stopped, elapsed_s=time.monotonic() - started,
    )
    log.log(
        logging.WARNING if stats.failed or stats.unsent or stats.skipped else logging.INFO,
        "replay %s: %d of %d events produced to %s, %d rejected rows dead-lettered to %s, "
        "%d not delivered, %d left unsent, %d skipped; %.1f s",
        "stopped" if stopped else "done", stats.produced, stats.events, settings.topic_metrics,
        stats.dead_lettered, settings.topic_deadletter, stats.failed, stats.unsent,
        stats.skipped, stats.elapsed_s,
    )
    return stats
