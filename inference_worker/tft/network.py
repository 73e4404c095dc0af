"""The TFT's forward pass for serving: the library's arithmetic, less of its memory traffic.

pytorch-forecasting's ``TemporalFusionTransformer.forward`` is written for
training and interpretation. A profile of one batch of the shipped model on
one CPU thread (BENCHMARKS.md) put most of the time in moving memory: the
attention (see ``attention.py``), its boolean mask built per series by
concatenation, the per-variable inputs cut out of the concatenated encoder and
decoder reals one column at a time, the variable selection's stack of every
variable's output (a ``(series, steps, hidden, variables)`` tensor), and the
static contexts projected at every time step although they are constant in
time. ``ServingTFT`` runs the same modules with the same weights, computing:

- the categorical embeddings once per series when every categorical is static
  (this project's models), not at each of the 384 steps;
- the real inputs' prescaling (one ``Linear(1, n)`` per variable) as one
  product of the reals with a block-diagonal matrix, whose output is already
  the variable selection's flat input: no per-column copies, no concatenation;
- each variable-selection output as a running weighted sum, without the stack;
- the static context projections once per series, broadcast over the steps;
- the attention with a shared causal mask (``(1, 1, decoder, keys)``), adding the
  per-series padding mask only when a batch holds an encoder shorter than its
  longest;
- only the prediction (no attention or variable weights).

A test holds it equal to ``model.predict()`` (fp32, 1e-4), with both the tiny
test model and models trained with the newer inputs.
"""

from __future__ import annotations

from typing import Any

import torch
from pytorch_forecasting.models.temporal_fusion_transformer.sub_modules import (
    GatedResidualNetwork,
    VariableSelectionNetwork,
)
from torch import nn
from torch.nn.functional import elu

from inference_worker.tft.attention import FusedInterpretableAttention
from inference_worker.tft.interpolation import interpolation_matrix


def _grn(grn: GatedResidualNetwork, x: torch.Tensor,
         context: torch.Tensor | None = None) -> torch.Tensor:
    """``grn(x, context)`` with ``context`` already projected by ``grn.context`` (any shape
    that broadcasts against ``fc1(x)``: per series, not per step)."""
    residual = x
    if grn.input_size != grn.output_size and not grn.residual:
        residual = grn.resample_norm(residual)
    x = grn.fc1(x)
    if context is not None:
        x = x + context
    x = grn.fc2(elu(x))
    return grn.gate_norm(x, residual)


def _prescale_matrix(vsn: VariableSelectionNetwork,
                     names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(len(names), total)`` weights and ``(total,)`` bias (float64): the prescalers of
    ``names`` side by side, so that ``reals @ W + b`` is their outputs concatenated (the
    variable selection's flat input)."""
    linears = [vsn.prescalers[name] for name in names]
    total = sum(linear.out_features for linear in linears)
    weight = torch.zeros(len(names), total, dtype=torch.float64)
    bias = torch.zeros(total, dtype=torch.float64)
    start = 0
    for row, linear in enumerate(linears):
        end = start + linear.out_features
        weight[row, start:end] = linear.weight.detach()[:, 0].double()
        bias[start:end] = linear.bias.detach().double()
        start = end
    return weight, bias


def _softmax(x: torch.Tensor) -> torch.Tensor:
    """``torch.softmax(x, -1)`` for a short last dimension (one weight per variable), where
    torch's kernel is several times slower than these four passes (1 thread, 6 variables)."""
    e = (x - x.amax(dim=-1, keepdim=True)).exp_()
    return e.div_(e.sum(dim=-1, keepdim=True))


def _has_resample(grn: GatedResidualNetwork) -> bool:
    return grn.input_size != grn.output_size and not grn.residual


def _affine_into(grn: GatedResidualNetwork, weight: torch.Tensor,
                 bias: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Where ``grn``'s input is ``reals @ weight + bias``: the same kind of maps from the
    reals to its ``fc1`` pre-activation and to its residual before the norm (resampled
    and gated when the network resamples it). Everything up to there is linear."""
    w1 = grn.fc1.weight.detach().double().T
    maps = [(weight @ w1, bias @ w1 + grn.fc1.bias.detach().double())]
    w, b = weight, bias
    if _has_resample(grn):
        resample = grn.resample_norm
        if resample.input_size != resample.output_size:
            m = interpolation_matrix(resample.input_size, resample.output_size).double()
            w, b = w @ m, b @ m
        if resample.trainable_add:
            gate = torch.sigmoid(resample.mask.detach().double()) * 2.0
            w, b = w * gate, b * gate
    maps.append((w, b))
    return maps


def _grn_after_fc1(grn: GatedResidualNetwork, hidden: torch.Tensor, residual: torch.Tensor,
                   context: torch.Tensor | None) -> torch.Tensor:
    """The rest of ``grn`` from its ``fc1`` pre-activation and its residual before the norm
    (both from ``_affine_into``); ``context`` already projected."""
    if _has_resample(grn):
        residual = grn.resample_norm.norm(residual)
    if context is not None:
        hidden = hidden + context
    return grn.gate_norm(grn.fc2(elu(hidden)), residual)


class _Selection(nn.Module):
    """A ``VariableSelectionNetwork`` over time-varying reals only, fed the reals tensor.

    The prescalers, the flat concatenation, and the first layer and resampled
    residual of the weights' network and of each unknown variable's network are
    all linear in the reals: one product with a precomputed matrix gives them
    all, and the flat input is never built. A known input (calendar, relative
    time) takes few distinct values in a batch, the same few hundred steps for
    every series: its variable's network, a function of that one number, is
    computed once per distinct value and gathered.
    """

    def __init__(self, vsn: VariableSelectionNetwork, reals: list[str], known: list[str]) -> None:
        super().__init__()
        self.vsn = vsn
        self.names = list(vsn.input_sizes)  # the order of the library's weights
        self.known = [name in known for name in self.names]
        self.register_buffer("columns", torch.tensor([reals.index(n) for n in self.names]),
                             persistent=False)
        prescale, shift = _prescale_matrix(vsn, self.names)
        maps: list[tuple[torch.Tensor, torch.Tensor]] = []
        if len(self.names) > 1:
            maps += _affine_into(vsn.flattened_grn, prescale, shift)
        start = 0
        for name, known_input in zip(self.names, self.known, strict=True):
            end = start + vsn.input_sizes[name]
            if not known_input:
                maps += _affine_into(vsn.single_variable_grns[name], prescale[:, start:end],
                                     shift[start:end])
            start = end
        edges = [0]
        for weight, _ in maps:
            edges.append(edges[-1] + weight.shape[1])
        self.edges = edges
        self.register_buffer("weight", torch.cat([w for w, _ in maps], dim=1).float(),
                             persistent=False)
        self.register_buffer("bias", torch.cat([b for _, b in maps]).float(), persistent=False)

    def forward(self, reals: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``reals`` ``(series, steps, all reals)``; ``context`` ``(series, 1, hidden)``,
        the static context for variable selection, not yet projected."""
        vsn = self.vsn
        picked = reals.index_select(-1, self.columns)  # type: ignore[arg-type]
        affine = torch.addmm(self.bias, picked.reshape(-1, picked.shape[-1]),  # type: ignore[arg-type]
                             self.weight).view(*picked.shape[:-1], -1)  # type: ignore[arg-type]
        blocks = [affine[..., a:b] for a, b in zip(self.edges, self.edges[1:], strict=False)]
        if len(self.names) == 1:
            return self._variable(0, picked, blocks)
        grn = vsn.flattened_grn
        weights = _softmax(
            _grn_after_fc1(grn, blocks.pop(0), blocks.pop(0), grn.context(context)))
        out: torch.Tensor | None = None
        for i in range(len(self.names)):
            term = self._variable(i, picked, blocks) * weights[..., i:i + 1]
            out = term if out is None else out + term
        assert out is not None
        return out

    def _variable(self, i: int, picked: torch.Tensor, blocks: list[torch.Tensor]) -> torch.Tensor:
        """Variable ``i``'s own network, ``(series, steps, hidden)``; an unknown variable's
        takes the next two of ``blocks`` (its ``fc1`` and residual parts of the product)."""
        name = self.names[i]
        grn = self.vsn.single_variable_grns[name]
        if not self.known[i]:
            return _grn_after_fc1(grn, blocks.pop(0), blocks.pop(0), None)
        values, where = torch.unique(picked[..., i], return_inverse=True)
        return _grn(grn, self.vsn.prescalers[name](values[:, None]))[where]


def supports(network: Any) -> bool:
    """Whether ``ServingTFT`` computes this network's forward: every categorical static,
    no static reals, one target, the interpretable attention, and time-varying inputs
    that are reals with the library's ``Linear(1, n)`` prescalers."""
    hp = network.hparams
    if (hp.time_varying_categoricals_encoder or hp.time_varying_categoricals_decoder
            or hp.static_reals or network.n_targets != 1 or not hp.causal_attention
            or not network.static_variables):
        return False
    for vsn in (network.encoder_variable_selection, network.decoder_variable_selection):
        for name in vsn.input_sizes:
            linear = vsn.prescalers[name] if name in vsn.prescalers else None  # noqa: SIM401 (a ModuleDict)
            if not isinstance(linear, nn.Linear) or linear.in_features != 1:
                return False
    return True


class ServingTFT(nn.Module):
    """The network's prediction from the direct path's inputs (see the module's docstring)."""

    def __init__(self, network: Any) -> None:
        super().__init__()
        if not supports(network):
            raise ValueError("this TFT's inputs are not the kind ServingTFT computes")
        if not isinstance(network.multihead_attn, FusedInterpretableAttention):
            network.multihead_attn = FusedInterpretableAttention(network.multihead_attn)
        self.tft = network
        reals: list[str] = list(network.hparams.x_reals)
        known = list(network.decoder_variables)  # what is known ahead: the calendar, time
        self.encoder = _Selection(network.encoder_variable_selection, reals, known)
        self.decoder = _Selection(network.decoder_variable_selection, reals, known)

    def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        tft: Any = self.tft  # the library's modules, untyped
        encoder_lengths = x["encoder_lengths"]
        encoder_cont, decoder_cont = x["encoder_cont"], x["decoder_cont"]
        width = encoder_cont.shape[1]
        horizon = decoder_cont.shape[1]
        # Every categorical is static: the embedding of the first step is the series'.
        embedded = tft.input_embeddings(x["encoder_cat"][:, 0])
        static, _ = tft.static_variable_selection(
            {name: embedded[name] for name in tft.static_variables})
        selection_context = tft.static_context_variable_selection(static)[:, None]
        encoded = self.encoder(encoder_cont, selection_context)
        decoded = self.decoder(decoder_cont, selection_context)

        hidden = tft.static_context_initial_hidden_lstm(static).expand(
            tft.hparams.lstm_layers, -1, -1)
        cell = tft.static_context_initial_cell_lstm(static).expand(
            tft.hparams.lstm_layers, -1, -1)
        encoder_output, (hidden, cell) = tft.lstm_encoder(
            encoded, (hidden, cell), lengths=encoder_lengths, enforce_sorted=False)
        decoder_output, _ = tft.lstm_decoder(
            decoded, (hidden, cell), lengths=x["decoder_lengths"], enforce_sorted=False)
        lstm_encoder = tft.post_lstm_add_norm_encoder(
            tft.post_lstm_gate_encoder(encoder_output), encoded)
        lstm_decoder = tft.post_lstm_add_norm_decoder(
            tft.post_lstm_gate_decoder(decoder_output), decoded)

        enrichment = tft.static_enrichment
        attn_input = _grn(enrichment, torch.cat([lstm_encoder, lstm_decoder], dim=1),
                          enrichment.context(tft.static_context_enrichment(static))[:, None])
        query = attn_input[:, width:]
        attended = tft.multihead_attn.attend(query, attn_input,
                                             self._mask(encoder_lengths, width, horizon,
                                                        attn_input.dtype))
        output = tft.pos_wise_ff(tft.post_attn_gate_norm(attended, query))
        output = tft.pre_output_gate_norm(output, lstm_decoder)
        prediction = tft.transform_output(tft.output_layer(output),
                                          target_scale=x["target_scale"])
        return {"prediction": prediction}

    @staticmethod
    def _mask(encoder_lengths: torch.Tensor, width: int, horizon: int,
              dtype: torch.dtype) -> torch.Tensor:
        """Additive attention mask, ``-inf`` where the library's mask is True: a decoder step
        sees the encoder's steps and the decoder steps before it (not itself, as the
        library's causal mask has it); padding beyond an encoder's length is hidden too,
        per series, only when the batch has any. In the queries' dtype (bf16 under
        autocast), as the fused kernel requires."""
        device = encoder_lengths.device
        query = torch.arange(horizon, device=device)[:, None]
        key = torch.arange(width + horizon, device=device)[None, :]
        hidden = (key >= width) & (key - width >= query)
        if bool((encoder_lengths < width).any()):
            padded = key[None] >= encoder_lengths[:, None, None]
            hidden = hidden[None] | (padded & (key[None] < width))
            hidden = hidden[:, None]  # (series, 1, queries, keys)
        else:
            hidden = hidden[None, None]  # (1, 1, queries, keys): one for all series
        zeros = torch.zeros(hidden.shape, device=device, dtype=dtype)
        return zeros.masked_fill(hidden, float("-inf"))
