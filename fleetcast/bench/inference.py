"""``fleetcast bench inference``: the library's ``model.predict()`` beside the worker's path.

Both paths forecast the same windows of the same model, batch by batch (the
worker's batch size), and both are timed from context windows to quantile
arrays: the host-side encoding is part of the cost. The library path is
``model.predict()`` on a ``TimeSeriesDataSet`` per batch; the worker path is
the direct tensor path (``TFTForecaster``) on the device chosen. Peak memory is
taken per path: it should follow the batch, not the fleet. With ``old_path`` the
direct path as it was before the serving forward (the library's forward, only
the interpolation swapped: ``Serving(fused=False)``) is timed too, the two taking
turns batch by batch, so that they are compared under the same load of a shared
machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from fleetcast.bench.fleet import Pool
from fleetcast.bench.memory import PeakMemory
from inference_worker.forecaster import Batch
from inference_worker.tft.artifacts import LoadedModel
from inference_worker.tft.direct import Serving
from inference_worker.tft.predict import TFTForecaster, model_predict, per_window, window_series
from schemas.common import METRICS
from schemas.context_window import ContextWindow

Predict = Callable[[Batch], np.ndarray]


@dataclass(frozen=True)
class PathRun:
    windows: int
    seconds: float
    rss_growth_mb: float
    cuda_peak_mb: float | None

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds


def time_paths(predicts: list[Predict], batches: Iterable[list[ContextWindow]],
               device: torch.device) -> list[PathRun]:
    """Seconds spent in each of ``predicts`` (windows to arrays), not in making the windows.

    The paths take turns on every batch, so that on a shared machine a change of load
    falls on all of them alike (timed one after the other, minutes apart, two paths'
    ratio moved by 40 % between runs here). Memory is taken per call and per path.
    """
    seconds = [0.0] * len(predicts)
    growth = [0.0] * len(predicts)
    cuda = [0.0] * len(predicts)
    windows = 0
    for chunk in batches:
        for i, predict in enumerate(predicts):
            with PeakMemory(device) as memory:
                started = time.perf_counter()
                predict(Batch.of(chunk))  # batching the windows is the worker's work too
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds[i] += time.perf_counter() - started
            growth[i] = max(growth[i], memory.rss_growth_mb)
            if device.type == "cuda":
                cuda[i] = max(cuda[i], memory.cuda_peak_mb)
        windows += len(chunk)
    return [PathRun(windows, seconds[i], growth[i], cuda[i] if device.type == "cuda" else None)
            for i in range(len(predicts))]


def time_path(predict: Predict, batches: Iterable[list[ContextWindow]],
              device: torch.device) -> PathRun:
    return time_paths([predict], batches, device)[0]


def library_path(model: LoadedModel, device: torch.device) -> Predict:
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    # A Trainer per call, and each says hello at INFO level: keep the bench's output readable.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    def predict(batch: Batch) -> np.ndarray:
        predicted = model_predict(model, window_series(batch), accelerator=accelerator,
                                  batch_size=len(batch.windows) * len(METRICS))
        return per_window(predicted, len(batch.windows), model.config.horizon)

    return predict


@dataclass(frozen=True)
class InferenceFigures:
    device: str
    servers: int
    predict_windows_per_s: float
    worker_windows_per_s: float
    speedup: float
    batch: int
    bf16: bool
    compile: bool
    old_worker_windows_per_s: float | None  # the direct path before the serving forward
    speedup_vs_old: float | None
    predict_timed_servers: int  # the library path is timed on at most this many servers
    predict_rss_growth_mb: float
    worker_rss_growth_mb: float
    worker_cuda_peak_mb: float | None

    def to_json(self) -> dict[str, object]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def bench_inference(model: LoadedModel, serving: Serving, servers: list[int], *, batch: int,
                    predict_limit: int, pool: Pool | None = None,
                    old_path: bool = False) -> Iterable[InferenceFigures]:
    """One result per fleet size, each as soon as it is measured."""
    pool = pool or Pool()
    worker = TFTForecaster(model, serving=serving).predict
    library = library_path(model, serving.device)
    old = TFTForecaster(model, serving=replace(serving, fused=False)).predict if old_path else None
    # One-time costs (first allocations; compilation, at the batch's own shape) out of the
    # timing; the library path is slow and compiles nothing: a few windows warm it.
    time_path(library, pool.batches(min(8, batch), batch), serving.device)
    for warm_up in (worker, old):
        if warm_up is not None:
            time_path(warm_up, pool.batches(batch, batch), serving.device)
    for n in servers:
        timed = min(n, predict_limit)
        slow = time_path(library, pool.batches(timed, batch), serving.device)
        if old is None:
            fast, before = time_path(worker, pool.batches(n, batch), serving.device), None
        else:
            fast, before = time_paths([worker, old], pool.batches(n, batch), serving.device)
        yield InferenceFigures(
            device=serving.device.type, servers=n, batch=batch, bf16=serving.bf16,
            compile=serving.compile,
            old_worker_windows_per_s=None if before is None else before.windows_per_s,
            speedup_vs_old=None if before is None else fast.windows_per_s / before.windows_per_s,
            predict_windows_per_s=slow.windows_per_s, worker_windows_per_s=fast.windows_per_s,
            speedup=fast.windows_per_s / slow.windows_per_s, predict_timed_servers=timed,
            predict_rss_growth_mb=slow.rss_growth_mb, worker_rss_growth_mb=fast.rss_growth_mb,
            worker_cuda_peak_mb=fast.cuda_peak_mb,
        )


def profile_batch(model: LoadedModel, serving: Serving, *, batch: int, old_path: bool = False,
                  rows: int = 16, pool: Pool | None = None) -> Iterable[tuple[str, str]]:
    """``torch.profiler``'s table (self CPU time by operator) of one batch of the worker's
    path, warmed up first, and of the old path's when asked: ``(name, table)`` pairs."""
    from torch.profiler import ProfilerActivity, profile

    pool = pool or Pool()
    chunk = next(pool.batches(batch, batch))
    paths = [("worker", serving)] + ([("old", replace(serving, fused=False))] if old_path else [])
    for name, chosen in paths:
        predict = TFTForecaster(model, serving=chosen).predict
        predict(Batch.of(chunk))
        with profile(activities=[ProfilerActivity.CPU]) as trace:
            predict(Batch.of(chunk))
        yield name, trace.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def table_row(f: InferenceFigures) -> str:
    sampled = "" if f.predict_timed_servers == f.servers else f" (on {f.predict_timed_servers})"
    memory = f"{f.predict_rss_growth_mb:8.0f} {f.worker_rss_growth_mb:8.0f}"
    if f.worker_cuda_peak_mb is not None:
        memory += f" cuda {f.worker_cuda_peak_mb:.0f}"
    old = ("" if f.old_worker_windows_per_s is None else
           f" old {f.old_worker_windows_per_s:.1f} w/s ({f.speedup_vs_old:.2f}x)")
    return (f"{f.device:6} {f.servers:7d} {f.predict_windows_per_s:12.1f}{sampled:>12} "
            f"{f.worker_windows_per_s:12.1f} {f.speedup:8.1f}x {memory}{old}")


TABLE_HEADER = ("device servers predict w/s              worker w/s  speedup  "
                "predict+MB worker+MB [old worker w/s (new/old)]")
