"""Choosing the worker's forecaster at start: the TFT in ``models/latest`` or the baseline."""

from __future__ import annotations

import logging
from pathlib import Path

from fleetcast.settings import Settings
from inference_worker.baseline import SeasonalNaiveTrend
from inference_worker.forecaster import Forecaster

log = logging.getLogger(__name__)


def baseline(settings: Settings) -> SeasonalNaiveTrend:
    return SeasonalNaiveTrend(
        horizon_steps=settings.horizon_steps, min_context_steps=settings.min_context_steps
    )


def forecaster_from_settings(settings: Settings) -> Forecaster:
    """``forecaster=tft`` loads the model or fails; ``auto`` falls back to the baseline, loudly,
    when no model is there; ``baseline`` skips the model."""
    if settings.forecaster == "baseline":
        return baseline(settings)
    from inference_worker.device import cpu_threads
    from inference_worker.tft.artifacts import ModelArtifactError, load
    from inference_worker.tft.predict import TFTForecaster

    cpu_threads()

    path = Path(settings.model_path)
    try:
        model = load(path)
    except (ModelArtifactError, FileNotFoundError) as exc:
        if settings.forecaster == "tft":
            raise
        log.warning("no usable model at %s (%s): forecasting with the baseline", path, exc)
        return baseline(settings)
    if model.config.horizon != settings.horizon_steps:
        raise ModelArtifactError(
            f"model {model.version} forecasts {model.config.horizon} steps, "
            f"the settings ask for {settings.horizon_steps}"
        )
    log.info("loaded model %s from %s", model.version, path)
    return TFTForecaster(model)
