"""The TFT's interpretable attention through ``scaled_dot_product_attention``.

pytorch-forecasting's ``InterpretableMultiHeadAttention`` loops over the heads,
each a ``bmm`` into a full ``(series, decoder steps, encoder + decoder steps)``
score tensor that is then divided, masked, soft-maxed and multiplied again; it
also stacks every head's weights for ``interpret_output``. On a CPU, with 96
queries over 384 keys, that is memory traffic, not arithmetic: about half of a
forward pass of the shipped model, most of it the division, the stack of the
weights and the softmax.

The interpretable variant differs from the usual multi-head attention in two
ways, both kept here: the value projection is shared by all heads (one
``d_model -> d_v`` linear), and the heads' outputs are averaged, not
concatenated, before ``w_h``. So the per-head query and key projections are
stacked into one linear each, the shared values are broadcast across the
heads (an expanded view, no copy), and one fused attention call computes every
head without keeping the score tensor. The weights are not returned: the
serving path never reads them (an empty tensor stands in, shaped like the
library's but with no key steps, so the network's slicing still works).
"""

from __future__ import annotations

import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    InterpretableMultiHeadAttention,
)
from torch import nn
from torch.nn.functional import scaled_dot_product_attention


def _stacked(modules: nn.ModuleList) -> nn.Linear:
    """One linear computing every head's projection side by side (head-major)."""
    layers: list[nn.Linear] = list(modules)  # type: ignore[arg-type]
    first = layers[0]
    out = sum(layer.out_features for layer in layers)
    stacked = nn.Linear(first.in_features, out, bias=first.bias is not None)
    with torch.no_grad():
        stacked.weight.copy_(torch.cat([layer.weight for layer in layers], dim=0))
        if first.bias is not None:
            stacked.bias.copy_(torch.cat([layer.bias for layer in layers], dim=0))
    return stacked.to(first.weight.device, first.weight.dtype)


class FusedInterpretableAttention(nn.Module):
    """``InterpretableMultiHeadAttention`` in eval mode, with the same weights.

    ``mask`` is the library's: True where a key must not be attended to
    (padding beyond an encoder's length; the decoder step itself and later ones),
    of shape ``(series, queries, keys)``.
    """

    def __init__(self, source: InterpretableMultiHeadAttention) -> None:
        super().__init__()
        self.n_head = source.n_head
        self.d_k = source.d_k
        self.q = _stacked(source.q_layers)
        self.k = _stacked(source.k_layers)
        self.v_layer = source.v_layer
        self.w_h = source.w_h

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The library module's call: ``(outputs, weights)``, the weights left empty."""
        if k is not v:
            raise ValueError("the TFT attends over one sequence: keys are its values")
        allowed = None if mask is None else ~mask.unsqueeze(1)
        outputs = self.attend(q, k, allowed)
        return outputs, outputs.new_empty((q.shape[0], q.shape[1], self.n_head, 0))

    def attend(self, q: torch.Tensor, kv: torch.Tensor,
               attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Queries ``q`` ``(series, queries, d_model)`` over ``kv`` ``(series, keys,
        d_model)``; ``attn_mask`` as ``scaled_dot_product_attention`` takes it (True or 0
        where attended), broadcast over the heads' dimension 1."""
        series, queries, _ = q.shape
        keys = kv.shape[1]
        heads = self.n_head
        qs = self.q(q).view(series, queries, heads, self.d_k).transpose(1, 2)
        ks = self.k(kv).view(series, keys, heads, self.d_k).transpose(1, 2)
        vs = self.v_layer(kv).unsqueeze(1).expand(-1, heads, -1, -1)
        attended = scaled_dot_product_attention(qs, ks, vs, attn_mask=attn_mask)
        return self.w_h(attended.mean(dim=1))


def swap_attention(network: nn.Module) -> int:
    """Replace every ``InterpretableMultiHeadAttention`` in place; returns how many."""
    swapped = 0
    for owner in list(network.modules()):
        for name, child in list(owner.named_children()):
            if isinstance(child, InterpretableMultiHeadAttention):
                setattr(owner, name, FusedInterpretableAttention(child))
                swapped += 1
    return swapped
