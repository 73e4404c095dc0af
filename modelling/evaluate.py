"""``fleetcast evaluate``: the TFT beside the baselines, and alert quality on the simulator or,
for the Bitbrains trace (``run_evaluate_bitbrains``), on real incidents."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from inference_worker.forecaster import Forecaster
from inference_worker.tft import artifacts
from inference_worker.tft.features import series_frame
from inference_worker.tft.model import ModelConfig
from modelling import alert_quality, incident_replay
from modelling.backtest import SeriesData, backtest
from modelling.baselines import Model, default_models
from modelling.bitbrains import load_bitbrains
from modelling.calibration import load_calibration, plot_reliability
from modelling.nab import load_nab_series, load_wide_series
from modelling.peers import peer_models, statsforecast_available
from modelling.report import write_report
from modelling.tft_model import METRIC_FOR_NAB, TFTBacktestModel
from modelling.training import TrainingConfig, train
from schemas.grid import HORIZON_STEPS

#: The metrics the Bitbrains trace has; the others are NaN there and are not evaluated.
BITBRAINS_METRICS = ("cpu_pct", "mem_pct", "net_in_mbps", "net_out_mbps")
RELIABILITY_PLOT = "reliability_p8h.png"

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


def bitbrains_series(wide: pd.DataFrame) -> list[SeriesData]:
    """One series per VM and Bitbrains metric (a metric never observed on a VM is left out)."""
    out = []
    for server, rows in wide.groupby("server_id", sort=False):
        stamps = pd.DatetimeIndex(rows["timestamp"]).tz_convert("UTC").tz_localize(None)
        for metric in BITBRAINS_METRICS:
            values = rows[metric].to_numpy(np.float64)
            if np.isfinite(values).any():
                out.append(SeriesData(str(server), metric, stamps.to_numpy(), values))
    return out


def select_vms(files: Sequence[Path], vms: int | Sequence[int] | None) -> list[int] | None:
    """``None``: all VMs; a count: the lowest that many VM ids in the files; a list: those."""
    if vms is None or not isinstance(vms, int):
        return None if vms is None else [int(v) for v in vms]
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ids: set[int] = set()
    for path in files:
        ids.update(int(v) for v in pc.unique(pq.read_table(path, columns=["vm"])["vm"]).to_pylist())
    return sorted(ids)[:vms]


def _product_forecaster(kind: str, model: artifacts.LoadedModel | None) -> Forecaster:
    from inference_worker.baseline_forecaster import SeasonalNaiveTrend

    if kind == "baseline":
        return SeasonalNaiveTrend()
    from inference_worker.tft.predict import TFTForecaster

    assert model is not None
    return TFTForecaster(model)


def alert_sections(ev: incident_replay.AlertEvaluation, forecaster: Forecaster, out_dir: Path
                   ) -> tuple[dict[str, Any], str]:
    """``report.json``'s ``alerts``, ``alert_replay`` and ``calibration`` keys, and Markdown."""
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.0%}"

    def num(x: float | None, digits: int = 1) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    rows = []
    for name, q in ev.rules.items():
        rows.append(
            f"| {name} | {q.warned}/{q.incidents} ({pct(q.warned_share)}) | "
            f"{pct(q.warned_share_recurring)} / {pct(q.warned_share_nonrecurring)} | "
            f"{num(q.median_lead_min, 0)} | {num(q.false_per_100_server_days)} | "
            f"{num(q.false_on_hours_per_server_day, 2)} |"
        )
    rate = ev.replay.windows / ev.replay.seconds if ev.replay.seconds else None
    cal = ev.calibration
    if ev.reliability:
        plot_reliability(ev.reliability, out_dir / RELIABILITY_PLOT,
                         f"p_8h ({forecaster.version}), cpu and memory at 95")
    recurring = sum(i.recurring for i in ev.incidents)
    md = [
        "## Alert quality on real incidents",
        "",
        f"{ev.servers} servers, {ev.server_days:.1f} server-days, origins every {ev.every_min} "
        f"minutes once a server has 24 h of history; {len(ev.incidents)} incidents of cpu or "
        f"memory (>= 95 for 3 steps after 12 observed steps below; {recurring} recurring at the "
        "same time of day), the definitions of `modelling/incidents.py`. The product's rules "
        f"replay its own path with the forecaster `{forecaster.version}`: windows -> forecast "
        "-> `score_batch` -> `AlertTracker`, its alert open at `warning` or worse "
        "(`fleetcast_warning`) or `danger` or worse (`fleetcast_danger`), per server; the "
        f"anchors are asked per metric at the same origins. Replay: {ev.replay.windows} windows "
        f"in {ev.replay.seconds:.0f} s ({num(rate, 0)} windows/s); the events are in "
        "`alerts.jsonl`.",
        "",
        "| rule | incidents warned | warned recurring / not | median lead (min) "
        "| false episodes / 100 server-days | false hours / server-day |",
        "|---|---|---|---:|---:|---:|",
        *rows,
        "",
        "## Calibration of the 8 h incident probability",
        "",
        f"Per origin, server and metric (cpu, memory): p_8h from the forecast's quantiles at the "
        f"incident level 95 (`inference_worker.breach`), "
        f"{'through the model folder calibration.json' if ev.calibrated else 'raw (the model has no calibration.json)'}"  # noqa: E501
        f", against \"an incident of that server and metric starts within 8 h\"; "
        f"{cal.get('pairs_8h')} pairs, base rate {num(cal.get('base_rate_8h'), 4)}.",
        "",
        "| | Brier score |",
        "|---|---:|",
        f"| p_8h | {num(cal.get('brier_8h'), 5)} |",
        f"| climatology (the base rate) | {num(cal.get('brier_climatology_8h'), 5)} |",
        "",
        *([f"![reliability of p_8h]({RELIABILITY_PLOT})", ""] if ev.reliability else []),
    ]
    sections = {
        "alerts": {name: q.to_json() | {"warned": q.warned, "alert_episodes": q.alert_episodes}
                   for name, q in ev.rules.items()},
        "alert_replay": {"forecaster": forecaster.version, "every_min": ev.every_min,
                         "servers": ev.servers, "server_days": ev.server_days,
                         "incidents": len(ev.incidents), "windows": ev.replay.windows,
                         "seconds": ev.replay.seconds, "windows_per_s": rate,
                         "events": len(ev.replay.events)},
        "calibration": {**cal, "calibrated": ev.calibrated},
    }
    return sections, "\n".join(md)


def run_evaluate_bitbrains(
    *,
    files: Sequence[Path],
    model_path: Path,
    out_dir: Path,
    vms: int | Sequence[int] | None = None,
    start: str | None = None,
    end: str | None = None,
    holdout: float = 0.3,
    stride: int = HORIZON_STEPS,
    peers: bool = True,
    peer_budget_s: float | None = 600.0,
    peer_series_budget_s: float | None = None,
    tft: bool = True,
    alerts: bool = False,
    alert_every: int = 30,
    alert_forecaster: str = "model",
    chunk_servers: int = 25,
    accuracy: bool = True,
) -> Path:
    """Accuracy of the model and every baseline on Bitbrains VMs, and (``alerts``) alert
    quality and calibration on their real incidents; writes the report and ``alerts.jsonl``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wide = load_bitbrains(files, vms=select_vms(files, vms), start=start, end=end)
    if wide.empty:
        raise ValueError("no Bitbrains rows for these VMs and dates")
    series = bitbrains_series(wide)
    model = artifacts.load(model_path) if tft or alert_forecaster == "model" else None
    models: list[Model] = []
    if tft and model is not None:
        models.append(TFTBacktestModel(model, description=f"TFT {model.version} as shipped, "
                                       "zero-shot: Bitbrains was never part of its training"))
    models += default_models()
    if peers:
        if statsforecast_available():
            models += peer_models(peer_budget_s, peer_series_budget_s)
        else:
            log.warning("statsforecast is not installed: no AutoTheta/AutoETS peers")
    sections: dict[str, Any] = {}
    md: list[str] = []
    if alerts:  # first: its replay is checkpointed, the backtest is not
        forecaster = _product_forecaster(alert_forecaster, model)
        evaluation = incident_replay.evaluate_alerts(
            wide, forecaster, alert_every, calibration=load_calibration(model_path)
            if alert_forecaster == "model" else None,
            checkpoint_dir=out_dir / ".alert-replay", chunk_servers=chunk_servers)
        incident_replay.write_alerts_jsonl(evaluation.replay.events, out_dir / "alerts.jsonl")
        sections, text = alert_sections(evaluation, forecaster, out_dir)
        md.append(text)
    if not accuracy:  # alert quality and calibration only
        (out_dir / "report.json").write_text(json.dumps(sections, indent=2) + "\n")
        report_md = out_dir / "report.md"
        report_md.write_text("\n\n".join([f"# fleetcast alert evaluation: Bitbrains, "
                                            f"{wide['server_id'].nunique()} VMs", *md]) + "\n")
        return report_md
    horizon = model.config.horizon if model is not None else HORIZON_STEPS
    result = backtest(series, models, horizon=horizon, holdout_fraction=holdout, stride=stride)
    servers = wide["server_id"].nunique()
    first, last = wide["timestamp"].min(), wide["timestamp"].max()
    return write_report(
        result, out_dir,
        title=f"fleetcast evaluation: Bitbrains, {servers} VMs, {len(series)} series, "
              f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC "
              f"({', '.join(sorted(f.name for f in files))})",
        model_notes={m.name: str(getattr(m, "description", "")) for m in models},
        extra_sections=md, extra_json=sections,
    )
