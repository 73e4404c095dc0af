"""The dataset definition and the network, rebuilt from plain JSON-able settings.

Nothing here holds fitted state that needs pickling: the target is
normalised per sample by its own encoder window, the calendar covariates
are already in [-1, 1], and the only fitted pieces, the categorical
vocabularies, are lists of strings.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from pytorch_forecasting import QuantileLoss, TemporalFusionTransformer, TimeSeriesDataSet
from pytorch_forecasting.data import EncoderNormalizer, NaNLabelEncoder

from inference_worker.tft.features import COVARIATES
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**{**data, "quantiles": tuple(data["quantiles"])})


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


def make_dataset(
    frame: pd.DataFrame,
    config: ModelConfig,
    vocabulary: Vocabulary,
    *,
    predict: bool = False,
    min_prediction_idx: int | None = None,
    weight: str | None = None,
) -> TimeSeriesDataSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return TimeSeriesDataSet(
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
            time_varying_known_reals=list(COVARIATES),
            time_varying_unknown_reals=["value"],
            target_normalizer=EncoderNormalizer(method="standard"),
            categorical_encoders=vocabulary.encoders(),
            scalers=dict.fromkeys((*COVARIATES, "relative_time_idx")),
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
    return TemporalFusionTransformer.from_dataset(
        dataset,
        hidden_size=config.hidden_size,
        attention_head_size=config.attention_head_size,
        hidden_continuous_size=config.hidden_continuous_size,
        lstm_layers=config.lstm_layers,
        dropout=config.dropout,
        learning_rate=config.learning_rate,
        loss=QuantileLoss(list(config.quantiles)),
        log_interval=-1,
        reduce_on_plateau_patience=3,
    )
