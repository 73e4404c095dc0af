"""Host-side buffers for the model's inputs and outputs, allocated once and reused.

A worker runs the same shapes batch after batch; allocating (and, on CUDA,
pinning) fresh host memory for every batch costs more than the copies
themselves. Each input gets one flat buffer that grows to the largest batch
seen and is viewed at the size of the batch at hand. On CUDA the buffers are
pinned, so the copies to the device are asynchronous (``non_blocking``); the
output copy back is followed by a stream synchronisation, which also
guarantees that no copy out of a buffer is still running when the next batch
overwrites it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


class HostStaging:
    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.pinned = device.type == "cuda"
        self._buffers: dict[str, torch.Tensor] = {}

    def capacity(self, name: str) -> int:
        """Elements held for ``name`` (0 before first use); for tests and the bench."""
        buffer = self._buffers.get(name)
        return 0 if buffer is None else buffer.numel()

    def _view(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        size = int(np.prod(shape))
        buffer = self._buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = torch.empty(size, dtype=dtype, pin_memory=self.pinned)
            self._buffers[name] = buffer
        return buffer[:size].view(shape)

    def to_device(self, arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Copy each array into its host buffer, then (on CUDA) start its copy to the device."""
        out = {}
        for name, array in arrays.items():
            host = self._view(name, array.shape, _torch_dtype(array.dtype))
            host.numpy()[...] = array
            out[name] = host.to(self.device, non_blocking=True) if self.pinned else host
        return out

    def to_host(self, tensor: torch.Tensor) -> np.ndarray:
        """The tensor as float32 numpy, valid until the next call (it lives in a reused buffer)."""
        if not self.pinned:
            return tensor.float().numpy()
        host = self._view("__output__", tuple(tensor.shape), torch.float32)
        host.copy_(tensor.float(), non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return host.numpy()
