"""Hot reload: a new model is loaded beside the serving one and swapped in between batches.

Two things ask for a reload: ``models/latest`` naming another version (or the
files it names being rewritten), seen by a cheap ``stat`` every
``model_poll_s``, and a ``reload_model`` command on the control topic. The
new model is loaded on a background thread while the old one keeps scoring;
the worker takes it (``ready``) only between batches, so every batch is
scored by exactly one model and the Kafka consumer, its offsets and the
batch in hand are untouched by the swap: no window is lost or scored twice.
A load that fails leaves the old model serving; the caller is told why.

Commands are rate-limited: anyone who can write to the control topic could
otherwise keep the worker loading models (61 commands in 30 s once made 53
full reloads). A command within ``min_interval_s`` of the last load's start
is coalesced into one load that starts when the interval is over; every
command is still answered by the load that served it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from inference_worker.forecaster import Forecaster
from inference_worker.loading import (
    baseline,
    forecaster_from_settings,
    load_tft,
    serving_from_settings,
)

log = logging.getLogger(__name__)

#: Requesters remembered per load (each is answered if it fails); the rest are only counted.
MAX_REQUESTERS = 20


@dataclass(frozen=True)
class ModelStamp:
    """What a model path points at now: the directory and its files' change times."""

    directory: str
    mtimes_ns: tuple[int, ...]


def model_stamp(path: Path) -> ModelStamp | None:
    """None while there is no complete model there (nothing to load yet)."""
    from inference_worker.tft.artifacts import METADATA, WEIGHTS, ModelArtifactError, resolve

    try:
        directory = resolve(path)
        files = [path, directory / METADATA, directory / WEIGHTS]
        return ModelStamp(str(directory), tuple(f.stat().st_mtime_ns for f in files))
    except (OSError, ModelArtifactError):  # ModelArtifactError: latest points outside models/
        return None


@dataclass(frozen=True)
class Outcome:
    """A finished load: the new forecaster, or why there is none; and who asked for it."""

    forecaster: Forecaster | None
    error: str | None
    requested_by: list[object]  # what ``request`` was given: reasons, control messages


class ModelReloader:
    def __init__(
        self,
        load: Callable[[], Forecaster],
        path: Path,
        poll_s: float,
        *,
        stamp: ModelStamp | None,
        clock: Callable[[], float] = time.monotonic,
        min_interval_s: float = 10.0,
    ) -> None:
        self._load = load
        self._path = path
        self._poll_s = poll_s
        self._stamp = stamp
        self._clock = clock
        self._checked_at = clock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-reload")
        self._pending: Future[Forecaster] | None = None
        self._requested_by: list[object] = []
        self._min_interval_s = min_interval_s
        self._started_at: float | None = None
        self._deferred = False  # a command's load waits for the interval to pass
        self.loads = 0  # loads started
        self.coalesced = 0  # requests answered by a load started for another one

    def check(self) -> None:
        """Start a deferred command's load once allowed; start a load if ``models/latest``
        changed since the last check (at most every ``poll_s``)."""
        if self._deferred and self._pending is None and not self._too_soon():
            self._start("reload_model command(s), rate-limited until now")
        if self._poll_s <= 0 or self._clock() - self._checked_at < self._poll_s:
            return
        self._checked_at = self._clock()
        stamp = model_stamp(self._path)
        if stamp is not None and stamp != self._stamp:
            # Remembered at once: a version that fails to load is not retried until the
            # files change again.
            self._stamp = stamp
            self.request(f"{self._path} changed: now {stamp.directory}")

    def request(self, requested_by: object, *, command: bool = False) -> None:
        """Load now; a request made while a load is under way is answered by that load.

        A ``command`` within ``min_interval_s`` of the last load's start waits for it
        (``check`` starts it), and every command arriving meanwhile joins that one load.
        """
        if len(self._requested_by) < MAX_REQUESTERS:
            self._requested_by.append(requested_by)
        if self._pending is not None or self._deferred:
            self.coalesced += 1
            return
        if command and self._too_soon():
            self._deferred = True
            log.info("reload_model rate-limited: one load per %g s; it starts when that "
                     "has passed", self._min_interval_s)
            return
        self._start(requested_by)

    def _too_soon(self) -> bool:
        return (self._started_at is not None
                and self._clock() - self._started_at < self._min_interval_s)

    def _start(self, requested_by: object) -> None:
        log.info("loading a new model beside the serving one (%s)", requested_by)
        self._started_at = self._clock()
        self._deferred = False
        self.loads += 1
        self._pending = self._executor.submit(self._load)

    @property
    def loading(self) -> bool:
        """A load is under way (its outcome not taken yet)."""
        return self._pending is not None

    def ready(self) -> Outcome | None:
        """The finished load, once; None while none has finished."""
        if self._pending is None or not self._pending.done():
            return None
        future, requested_by = self._pending, self._requested_by
        self._pending, self._requested_by = None, []
        try:
            return Outcome(future.result(), None, requested_by)
        except Exception as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}", requested_by)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def reloadable_forecaster(settings: Settings) -> tuple[Forecaster, ModelReloader | None]:
    """The forecaster to start with and, unless it is the baseline by choice, its reloader.

    With ``forecaster=auto`` and no model yet, the baseline serves until one appears.
    """
    if settings.forecaster == "baseline":
        return baseline(settings), None
    serving = serving_from_settings(settings)
    path = Path(settings.model_path)
    stamp = model_stamp(path)  # before the load: a change during it is seen at the next check
    forecaster = forecaster_from_settings(settings, serving)
    reloader = ModelReloader(lambda: load_tft(settings, serving), path, settings.model_poll_s,
                             stamp=stamp, min_interval_s=settings.model_reload_min_interval_s)
    return forecaster, reloader
