"""bf16 autocast for the TFT, with its LSTMs kept in fp32.

Autocast sends the LSTMs to the backend's low-precision RNN kernels: on this
CPU oneDNN has no bf16 LSTM for the network's shapes ("could not create a
primitive descriptor"), and cuDNN's bf16 RNN support depends on the card and
the version. The LSTMs are a small share of the GPU time (the issue's H100
profile: everything but the interpolation took 38 ms per 1,000 windows), so
they run in fp32 everywhere and the rest of the network in bf16.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _fp32(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, tuple):
        return tuple(_fp32(v) for v in value)
    return value


class Fp32Recurrent(nn.Module):
    """Runs ``inner`` (an LSTM) outside autocast, on fp32 inputs; same call, same outputs."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        device = next(self.inner.parameters()).device.type
        with torch.autocast(device, enabled=False):
            return self.inner(*_fp32(args), **{k: _fp32(v) for k, v in kwargs.items()})


def keep_recurrent_fp32(network: nn.Module) -> int:
    """Wrap every LSTM child of ``network`` in place; returns how many."""
    wrapped = 0
    for owner in list(network.modules()):
        for name, child in list(owner.named_children()):
            if isinstance(child, nn.LSTM) and not isinstance(owner, Fp32Recurrent):
                setattr(owner, name, Fp32Recurrent(child))
                wrapped += 1
    return wrapped
