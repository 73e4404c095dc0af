"""The dataset definition and the network, rebuilt from plain JSON-able settings.

Nothing here holds fitted state that needs pickling: the target is
normalised per sample by its own encoder window, the calendar covariates
are already in [-1, 1], and the only fitted pieces, the categorical
vocabularies, are lists of strings.

Every setting added since the first models defaults to what those models
did, so an old ``model.json`` (without the keys) rebuilds the same network:
``log1p_metrics`` and ``yesterday`` (``features.InputSpec``) and
``scale_floor``, the smallest spread the per-window normaliser divides by. The
library adds only float32's epsilon to a window's standard deviation, so a
flat window (an idle VM at 0.0 % CPU for a day, a zero network series) gets a
scale of 1e-7: the network's inputs are all 0 and any change after it would be
a jump of millions of scales. A floor in model units (percentage points, or
log1p Mbit/s) keeps such windows on a sane scale; it changes nothing for a
window that varies more than the floor.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from pytorch_forecasting import QuantileLoss, TemporalFusionTransformer, TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder

from inference_worker.tft.features import COVARIATES, YESTERDAY, InputSpec
from schemas.grid import CONTEXT_STEPS, HORIZON_STEPS

CATEGORICALS = ("metric", "profile")
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class ModelConfig:
    max_encoder_length: int = CONTEXT_STEPS  # 24 h of 5-minute steps
    min_encoder_length: int = 36  # 3 h: young servers still get forecasts
    horizon: int = HORIZON_STEPS  # 8 h
    quantiles: tuple[float, ...] = QUANTILES
    hidden_size: int = 16
    attention_head_size: int = 2
    hidden_continuous_size: int = 8
    lstm_layers: int = 1
    dropout: float = 0.1
    learning_rate: float = 3e-3
    log1p_metrics: tuple[str, ...] = ()
    yesterday: bool = False
    scale_floor: float = 0.0
    reduce_on_plateau_patience: int = 3

    @property
    def inputs(self) -> InputSpec:
        return InputSpec(log1p_metrics=self.log1p_metrics, yesterday=self.yesterday)

    @property
    def known_reals(self) -> tuple[str, ...]:
        return (*COVARIATES, YESTERDAY) if self.yesterday else COVARIATES

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**{**data, "quantiles": tuple(data["quantiles"]),
                      "log1p_metrics": tuple(data.get("log1p_metrics", ()))})


@dataclass(frozen=True)
class Vocabulary:
    """The categorical values seen in training; anything else maps to the "unknown" slot."""

    classes: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Vocabulary:
        return cls({name: sorted(frame[name].astype(str).unique()) for name in CATEGORICALS})

    def encoders(self) -> dict[str, NaNLabelEncoder]:
        encoders = {}
        for name, values in self.classes.items():
            encoder = _unfitted()
            encoder.fit(pd.Series(values))
            encoders[name] = encoder
        return encoders


def _unfitted() -> NaNLabelEncoder:
    # add_nan: a value unseen in training (a new profile, a new metric) encodes
    # to the reserved "unknown" slot instead of raising.
    return NaNLabelEncoder(add_nan=True, warn=False)


class FlooredEncoderNormalizer(EncoderNormalizer):
    """The library's per-window standardisation with the scale held at ``floor`` or above."""

    def __init__(self, method: str = "standard", floor: float = 0.0) -> None:
        super().__init__(method=method)
        self.floor = floor

    def _set_parameters(self, y_center: Any, y_scale: Any) -> None:
        super()._set_parameters(y_center=y_center, y_scale=y_scale)
        scale: Any = self.__dict__["scale_"]  # set by the library, untyped there
        if self.floor > 0:
            if isinstance(scale, torch.Tensor):
                self.scale_ = torch.clamp(scale, min=self.floor)
            else:
                self.scale_ = np.maximum(scale, np.float32(self.floor)).astype(
                    np.asarray(scale).dtype)


class DayAgoDataSet(TimeSeriesDataSet):
    """A dataset whose ``yesterday`` input is standardised like the target, per sample.

    The column is stored raw (no scaler); after the library has fitted the target's
    normaliser on this sample's encoder, the decoder part is put on the same scale
    (``(x - center) / scale``), so "yesterday" and the forecast speak the same units.
    The encoder part is zeroed: the network does not read it (``build_network``).
    """

    def __getitem__(self, idx: int) -> tuple[dict[str, Any], Any]:
        x, y = super().__getitem__(idx)
        pos = self.reals.index(YESTERDAY)
        center, scale = (float(v) for v in np.asarray(x["target_scale"]).ravel()[:2])
        column = x["x_cont"][:, pos]
        encoder = x["encoder_length"]
        column[encoder:] = (column[encoder:] - center) / scale
        column[:encoder] = 0.0
        return x, y


def make_dataset(
    frame: pd.DataFrame,
    config: ModelConfig,
    vocabulary: Vocabulary,
    *,
    predict: bool = False,
    min_prediction_idx: int | None = None,
    weight: str | None = None,
) -> TimeSeriesDataSet:
    known = list(config.known_reals)
    kind = DayAgoDataSet if config.yesterday else TimeSeriesDataSet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return kind(
            frame,
            time_idx="time_idx",
            target="value",
            group_ids=["series"],
            weight=weight,
            max_encoder_length=config.max_encoder_length,
            min_encoder_length=config.min_encoder_length,
            max_prediction_length=config.horizon,
            min_prediction_length=config.horizon,
            min_prediction_idx=min_prediction_idx,
            static_categoricals=list(CATEGORICALS),
            time_varying_known_reals=known,
            time_varying_unknown_reals=["value"],
            target_normalizer=FlooredEncoderNormalizer(method="standard",
                                                       floor=config.scale_floor),
            categorical_encoders=vocabulary.encoders(),
            scalers=dict.fromkeys((*known, "relative_time_idx")),
            add_relative_time_idx=True,
            add_target_scales=False,  # scale-free: the model never sees absolute levels
            add_encoder_length=False,
            allow_missing_timesteps=True,
            predict_mode=predict,
        )


def build_network(dataset: TimeSeriesDataSet, config: ModelConfig) -> TemporalFusionTransformer:
    with warnings.catch_warnings():
        # Lightning's advice about saving the loss module in hyperparameters does not
        # apply: fleetcast never uses lightning checkpoints to load a model.
        warnings.simplefilter("ignore", UserWarning)
        return _from_dataset(dataset, config)


def _from_dataset(dataset: TimeSeriesDataSet, config: ModelConfig) -> TemporalFusionTransformer:
    # "yesterday" is known for decoder steps only (its encoder values would need the
    # day before the context): the encoder's variable selection does not get it.
    encoder_known = [name for name in config.known_reals if name != YESTERDAY]
    return TemporalFusionTransformer.from_dataset(
        dataset,
        allowed_encoder_known_variable_names=[*encoder_known, "relative_time_idx"],
        hidden_size=config.hidden_size,
        attention_head_size=config.attention_head_size,
        hidden_continuous_size=config.hidden_continuous_size,
        lstm_layers=config.lstm_layers,
        dropout=config.dropout,
        learning_rate=config.learning_rate,
        loss=QuantileLoss(list(config.quantiles)),
        log_interval=-1,
        reduce_on_plateau_patience=config.reduce_on_plateau_patience,
    )
