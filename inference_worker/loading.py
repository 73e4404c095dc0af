"""Choosing the worker's forecaster at start: the TFT in ``models/latest`` or the baseline.

Where the model runs (``Serving``: device, bf16 autocast, compile) is decided
once, at start, from the settings; every model the worker loads later (hot
reload) runs the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import Settings
from inference_worker.baseline_forecaster import SeasonalNaiveTrend
from inference_worker.breach import BreachCalibration, load_calibration
from inference_worker.forecaster import Forecaster

if TYPE_CHECKING:
    from inference_worker.tft.direct import Serving
    from inference_worker.tft.predict import TFTForecaster

log = logging.getLogger(__name__)


class ModelMismatchError(RuntimeError):
    """A usable model that does not fit the settings: an error even with ``forecaster=auto``."""


def baseline(settings: Settings) -> SeasonalNaiveTrend:
    return SeasonalNaiveTrend(
        horizon_steps=settings.horizon_steps, min_context_steps=settings.min_context_steps
    )


def serving_from_settings(settings: Settings) -> Serving:
    """The device (``--device``/``FLEETCAST_DEVICE``; ``cuda`` without one is an error), bf16
    autocast on CUDA unless turned off, and torch threads on the CPU."""
    from inference_worker.device import cpu_threads, pick_device
    from inference_worker.tft.direct import Serving

    device = pick_device(settings.device)
    if device.type == "cpu":
        cpu_threads()
    return Serving(device=device, bf16=settings.autocast_bf16 and device.type == "cuda",
                   compile=settings.torch_compile,
                   chunk_windows=settings.forward_chunk_windows or None)


def load_tft(settings: Settings, serving: Serving) -> TFTForecaster:
    """The TFT at ``model_path``, or an exception saying why not."""
    from inference_worker.tft.artifacts import load
    from inference_worker.tft.predict import TFTForecaster

    path = Path(settings.model_path)
    model = load(path)
    if model.config.horizon != settings.horizon_steps:
        raise ModelMismatchError(
            f"model {model.version} forecasts {model.config.horizon} steps, "
            f"the settings ask for {settings.horizon_steps}"
        )
    log.info("loaded model %s from %s on %s%s", model.version, path, serving.device,
             " (bf16 autocast)" if serving.bf16 else "")
    return TFTForecaster(model, serving=serving)


def forecaster_from_settings(settings: Settings, serving: Serving | None = None) -> Forecaster:
    """``forecaster=tft`` loads the model or fails; ``auto`` falls back to the baseline, loudly,
    when no model is there; ``baseline`` skips the model."""
    if settings.forecaster == "baseline":
        return baseline(settings)
    from inference_worker.tft.artifacts import ModelArtifactError

    try:
        return load_tft(settings, serving or serving_from_settings(settings))
    except (ModelArtifactError, FileNotFoundError) as exc:
        if settings.forecaster == "tft":
            raise
        log.warning("no usable model at %s (%s): forecasting with the baseline",
                    settings.model_path, exc)
        return baseline(settings)


def calibration_for(settings: Settings, version: str) -> BreachCalibration:
    """The calibration in the folder of model ``version`` (beside ``model_path``'s target), or
    the identity where it has none (the baseline, a model never calibrated)."""
    from inference_worker.tft.artifacts import ModelArtifactError, resolve

    try:
        model_dir = resolve(Path(settings.model_path))
    except ModelArtifactError:  # latest points outside models/: the model was not loaded
        return load_calibration(None)
    if model_dir.name != version:  # models/latest moved on since this version was loaded
        model_dir = model_dir.parent / version
    return load_calibration(model_dir if model_dir.is_dir() else None)
