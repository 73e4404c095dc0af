"""Peak memory of one bench phase: host RSS sampled on a thread, and CUDA's own peak counter.

``ru_maxrss`` is a high-water mark for the whole process, so it cannot tell
one phase from the next; sampling ``/proc/self`` RSS every few milliseconds
can, within the sampling interval.
"""

from __future__ import annotations

import threading
from types import TracebackType

import psutil
import torch

MB = 1024 * 1024


class PeakMemory:
    def __init__(self, device: torch.device, interval_s: float = 0.005) -> None:
        self._device = device
        self._interval_s = interval_s
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.start_rss = 0
        self.peak_rss = 0
        self.cuda_peak = 0

    def _sample(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self.start_rss = self.peak_rss = self._process.memory_info().rss
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
        if self._device.type == "cuda":
            self.cuda_peak = torch.cuda.max_memory_allocated(self._device)

    @property
    def rss_growth_mb(self) -> float:
        """How far RSS rose above where it was when the phase began."""
        return (self.peak_rss - self.start_rss) / MB

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss / MB

    @property
    def cuda_peak_mb(self) -> float:
        return self.cuda_peak / MB
