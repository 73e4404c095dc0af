"""Where torch runs, and with how many CPU threads."""

from __future__ import annotations

import os

import torch


def cpu_threads(requested: int | None = None) -> int:
    """Threads for torch on the CPU: half the cores (at least one), unless told otherwise.

    fleetcast shares the machine with its own stream processor, producers and
    UI; torch taking every core makes its threads fight them. Seen here on two
    cores beside one other busy process: a training step took 20 s with two
    threads and 0.8 s with one.
    """
    threads = requested or max(1, (os.cpu_count() or 2) // 2)
    torch.set_num_threads(threads)
    return threads


class DeviceUnavailableError(RuntimeError):
    """The device asked for is not there."""


def pick_device(requested: str = "auto") -> torch.device:
    """``auto``: CUDA where there is a GPU, else the CPU; ``cuda`` without one is an error."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"--device cuda (FLEETCAST_DEVICE=cuda) was asked for, but torch {torch.__version__} "
            f"sees no CUDA device (built with CUDA: {torch.version.cuda or 'no'}); "
            "use --device cpu or auto"
        )
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
