"""The TFT's own explanation of one forecast: variable importances and attention over the context.

The model (and torch) load only when the model-insight view is first used,
once per process, so the dashboard stays light for everyone else. The
explanation runs the window through the library's data path (one series, the
metric chosen) and the network's ``interpret_output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from schemas.context_window import ContextWindow

if TYPE_CHECKING:
    from inference_worker.tft.artifacts import LoadedModel


@dataclass(frozen=True)
class Explanation:
    server_id: str
    metric: str
    model_version: str
    window_end: datetime
    #: variable -> share of the selection weights, per group, largest first
    static: dict[str, float]
    encoder: dict[str, float]
    decoder: dict[str, float]
    #: attention per context step (oldest first) with the steps' times
    attention_times: list[datetime]
    attention: list[float]
    #: the context itself, for drawing under the attention
    values: list[float]


def _shares(names: list[str], weights: np.ndarray) -> dict[str, float]:
    total = float(np.nansum(weights)) or 1.0
    pairs = sorted(zip(names, (float(w) / total for w in weights), strict=True),
                   key=lambda item: -item[1])
    return dict(pairs)


def explain(model: LoadedModel, window: ContextWindow, metric: str) -> Explanation:
    """Interpret the model's forecast of ``metric`` from ``window``."""
    import pandas as pd
    import torch

    from inference_worker.tft.features import series_frame
    from inference_worker.tft.model import make_dataset

    config, network = model.config, model.network
    stamps = pd.date_range(window.step_start(0), periods=window.steps,
                           freq=f"{window.step_seconds}s")
    values = np.array([np.nan if v is None else v for v in window.values[metric]],
                      dtype=np.float64)
    frame = series_frame(series_id="0", server_id=window.server_id, metric=metric,
                         timestamps=stamps, values=values, horizon=config.horizon,
                         spec=config.inputs)  # the model's own units and inputs
    if frame is None or len(frame) - config.horizon < config.min_encoder_length:
        raise ValueError(f"{window.server_id} has too little {metric} history to explain "
                         f"(the model needs {config.min_encoder_length} steps)")
    frame = frame.tail(config.max_encoder_length + config.horizon)
    dataset = make_dataset(frame, config, model.vocabulary, predict=True)
    x, _ = next(iter(dataset.to_dataloader(train=False, batch_size=1, num_workers=0)))
    with torch.inference_mode():
        out = network(x)
        interpretation = network.interpret_output(out, reduction="sum")
    encoder_length = int(x["encoder_lengths"][0])
    attention = interpretation["attention"].numpy()[: config.max_encoder_length]
    attention = attention[-encoder_length:]  # the encoder's steps, the newest last
    attention = attention / (np.nansum(attention) or 1.0)
    step = timedelta(seconds=window.step_seconds)
    times = [window.end - (encoder_length - i) * step for i in range(encoder_length)]
    context = values[-encoder_length:]
    return Explanation(
        server_id=window.server_id, metric=metric, model_version=model.version,
        window_end=window.end,
        static=_shares(list(network.static_variables),
                       interpretation["static_variables"].numpy()),
        encoder=_shares(list(network.encoder_variables),
                        interpretation["encoder_variables"].numpy()),
        decoder=_shares(list(network.decoder_variables),
                        interpretation["decoder_variables"].numpy()),
        attention_times=times,
        attention=np.nan_to_num(attention).tolist(),
        values=context.tolist(),
    )
