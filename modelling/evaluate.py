"""``fleetcast evaluate``: the TFT beside the baselines, and alert quality on the simulator."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from inference_worker.tft import artifacts
from inference_worker.tft.features import series_frame
from inference_worker.tft.model import ModelConfig
from modelling import alert_quality
from modelling.backtest import SeriesData, backtest
from modelling.baselines import Model, default_models
from modelling.nab import load_nab_series, load_wide_series
from modelling.report import write_report
from modelling.tft_model import METRIC_FOR_NAB, TFTBacktestModel
from modelling.training import TrainingConfig, train

log = logging.getLogger(__name__)


def load_series(files: Sequence[Path], fmt: str, metric: str | None) -> list[SeriesData]:
    if fmt == "nab":
        return load_nab_series(files, metric=metric)
    return [s for f in files for s in load_wide_series(f)]


def fit_on_heads(series: list[SeriesData], holdout: float, out_dir: Path,
                 training: TrainingConfig) -> artifacts.LoadedModel:
    """A TFT trained on the first ``1 - holdout`` of each series only (what ``--fit`` means)."""
    frames = []
    for s in series:
        head = int(len(s) * (1 - holdout))
        frame = series_frame(
            series_id=s.name, server_id=s.name, metric=METRIC_FOR_NAB.get(s.metric, s.metric),
            timestamps=pd.DatetimeIndex(s.timestamps[:head], tz="UTC"), values=s.values[:head],
        )
        if frame is not None:
            frames.append(frame)
    config = ModelConfig()
    network, vocabulary, figures = train(pd.concat(frames, ignore_index=True), config, training,
                                         work_dir=out_dir / ".work")
    artifacts.save(network, models_dir=out_dir / "models", version="fitted", config=config,
                   vocabulary=vocabulary, extra={"training": figures}, make_latest=False)
    return artifacts.load(out_dir / "models" / "fitted")


def alert_section(model: artifacts.LoadedModel, days: float, servers: int, seed: int) -> str:
    """Markdown: warned incidents, lead times and false alerts, TFT against the baseline."""
    from inference_worker.baseline_forecaster import SeasonalNaiveTrend
    from inference_worker.tft.predict import TFTForecaster
    from producers.recording import simulate_history

    incidents_run, episodes = simulate_history(days=days, servers=servers, seed=seed)
    healthy_run, _ = simulate_history(days=days, servers=servers, seed=seed + 1,
                                      healthy_only=True)
    incidents = alert_quality.find_incidents(incidents_run)
    rows = []
    for name, forecaster in (("tft", TFTForecaster(model)), ("baseline", SeasonalNaiveTrend())):
        warned = alert_quality.judge(
            incidents, alert_quality.replay_alerts(incidents_run, forecaster),
            server_days=days * servers)
        quiet = alert_quality.judge(
            [], alert_quality.replay_alerts(healthy_run, forecaster), server_days=days * servers)
        share = warned.warned_share
        lead = warned.median_lead_min
        rows.append(
            f"| {name} | {warned.warned}/{warned.incidents} "
            f"({'-' if share is None else f'{share:.0%}'}) | "
            f"{'-' if lead is None else f'{lead:.0f}'} | "
            f"{quiet.false_alerts_per_100_server_days():.1f} | "
            f"{quiet.false_alerts_per_100_server_days(danger_only=True):.1f} |"
        )
        log.info("alert quality %s: %s", name, rows[-1])
    return "\n".join([
        "## Alert quality on the simulator",
        "",
        f"Held-out simulator runs (seed {seed}, never trained on): {days:g} days of {servers} "
        f"servers with {len(episodes)} injected episodes giving {len(incidents)} incidents "
        f"(a metric crossing its profile's critical threshold after an hour below it), and "
        f"{days:g} days of the same fleet with nothing injected for false alerts. Windows are "
        "scored every 10 simulated minutes through the worker's own scoring and alert state "
        "machine. Goals: 90% of incidents warned at `danger` or worse, median lead time 30 "
        "minutes or more, fewer than 1 false alert per 100 healthy server-days.",
        "",
        "| forecaster | incidents warned (danger+, up to 8 h ahead) | median lead time (min) "
        "| false alerts / 100 server-days (warning+) | false alerts / 100 server-days "
        "(danger+) |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ])


def run_evaluate(
    *,
    files: Sequence[Path],
    fmt: str,
    metric: str | None,
    model_path: Path,
    fit: bool,
    out_dir: Path,
    holdout: float = 0.3,
    stride: int = 48,
    training: TrainingConfig | None = None,
    alert_days: float = 0.0,
    alert_servers: int = 20,
) -> Path:
    series = load_series(files, fmt, metric)
    if fit:
        model = fit_on_heads(series, holdout, out_dir, training or TrainingConfig())
        note = (f"TFT trained by `--fit` on the first {1 - holdout:.0%} of each series "
                "evaluated here (the scored part was never seen)")
    else:
        model = artifacts.load(model_path)
        note = (f"TFT {model.version} as shipped, zero-shot: this data was never part of its "
                "training")
    models: list[Model] = [TFTBacktestModel(model, description=note), *default_models()]
    result = backtest(series, models, horizon=model.config.horizon, holdout_fraction=holdout,
                      stride=stride)
    extra = [alert_section(model, alert_days, alert_servers, seed=101)] if alert_days else []
    return write_report(
        result, out_dir,
        title=f"fleetcast evaluation: {len(series)} series from "
              f"{', '.join(sorted({f.name for f in files}))[:200]}",
        model_notes={m.name: str(getattr(m, "description", "")) for m in models},
        extra_sections=extra,
    )
