"""The ``fleetcast`` command: one subcommand per service, as docker-compose runs them."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.runtime import configure_logging
from core.settings import Settings
from fleetcast.bench import add_bench_command
from schemas.common import describe_validation_error
from schemas.control_event import SCENARIOS

log = logging.getLogger("fleetcast")


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def cmd_up(args: argparse.Namespace) -> int:
    from fleetcast.stack import run_stack

    given = args.bootstrap or os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
        "FLEETCAST_KAFKA_BOOTSTRAP_SERVERS"
    )
    settings = _settings(kafka_bootstrap_servers=args.bootstrap, servers=args.servers,
                         speed=args.speed)
    return run_stack(settings, embedded=not given, ui=not args.no_ui, host=not args.no_host)


def cmd_broker(args: argparse.Namespace) -> int:
    from core.broker import EmbeddedBroker
    from core.kafka import ensure_topics

    settings = _settings(broker_port=args.port)
    with EmbeddedBroker(settings.broker_host, settings.broker_port) as broker:
        ensure_topics(_settings(kafka_bootstrap_servers=broker.bootstrap))
        print(f"embedded broker (memory only) on {broker.bootstrap}; Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            broker.wait()
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    if args.source == "sim":
        from producers.service import run

        if args.url or args.server:
            print("fleetcast produce: --url and --server need --source host or prometheus",
                  file=sys.stderr)
            return 2
        run(_settings(servers=args.servers, speed=args.speed))
        return 0
    from producers.sources.cli import run_real_source

    try:
        settings = _settings(source_interval_s=args.interval)
    except ValidationError as exc:
        print(f"fleetcast produce: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    return run_real_source(settings, args.source, url=args.url, server=args.server)


def cmd_process(args: argparse.Namespace) -> int:
    from stream_processors.worker import run

    run(_settings())
    return 0


def cmd_infer(args: argparse.Namespace) -> int:
    from inference_worker.service import main

    return main(_settings(device=args.device))


def cmd_api(args: argparse.Namespace) -> int:
    from ui.api import serve

    serve(_settings())
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from ui.dashboard import serve

    serve(_settings())
    return 0


def cmd_scenario(args: argparse.Namespace) -> int:
    from core.control import publish_scenario
    from core.kafka import make_producer

    settings = _settings()
    servers = [s.strip() for s in (args.servers or "").split(",") if s.strip()]
    try:
        event = publish_scenario(settings, make_producer(settings), args.name, servers)
    except ValidationError as exc:
        print(f"fleetcast scenario: {describe_validation_error(exc)}", file=sys.stderr)
        return 2
    print(event.model_dump_json())
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    if args.forward:
        from forwarding.command import forward_alerts

        return forward_alerts(_settings(), args.forward, url=args.url, group=args.group,
                              attempts=args.attempts)
    from forwarding.alerts_consumer import print_alerts

    with contextlib.suppress(KeyboardInterrupt):
        print_alerts(_settings(), follow=args.follow)
    return 0


def _data_files(args: argparse.Namespace, *, missing: str) -> list[Path]:
    """``--data`` files, plus simulated history when ``--simulate DAYS`` is given (written
    under ``--data-dir``); prints ``missing`` when there is neither."""
    files = [Path(f) for f in args.data or []]
    if args.simulate:
        from modelling.train import simulated_data

        files.append(simulated_data(args.simulate, args.servers, args.seed, Path(args.data_dir)))
    if not files:
        print(missing, file=sys.stderr)
    return files


def cmd_train(args: argparse.Namespace) -> int:
    from inference_worker.device import cpu_threads
    from inference_worker.tft.model import ModelConfig
    from modelling.train import Simulation, run_train
    from modelling.training import TrainingConfig

    cpu_threads(args.threads)
    if not args.data and not args.simulate:
        print("fleetcast train: give --simulate DAYS or --data PATH", file=sys.stderr)
        return 2
    try:
        metric_weights = _metric_weights(args.metric_weight or [])
    except ValueError as exc:
        print(f"fleetcast train: {exc}", file=sys.stderr)
        return 2
    simulate = (Simulation(args.simulate, args.servers, args.seed, Path(args.data_dir))
                if args.simulate else None)
    run_train(
        data=[Path(f) for f in args.data or []], fmt=args.format, simulate=simulate,
        vms=args.vms, max_series=args.max_series,
        models_dir=Path(args.models), version=args.version,
        model_config=ModelConfig(
            hidden_size=args.hidden_size, attention_head_size=args.attention_heads,
            hidden_continuous_size=args.hidden_continuous_size or max(args.hidden_size // 2, 1),
            dropout=args.dropout, learning_rate=args.learning_rate,
            log1p_metrics=tuple(m for m in (args.log1p or "").split(",") if m),
            yesterday=args.yesterday, scale_floor=args.scale_floor),
        training=TrainingConfig(
            max_epochs=args.max_epochs, batch_size=args.batch_size,
            limit_train_batches=args.batches_per_epoch, seed=args.seed,
            patience=args.patience, validation_fraction=args.validation_fraction,
            max_validation_samples=args.max_validation_samples,
            metric_weights=metric_weights, resume=args.resume),
        accelerator=args.accelerator,
    )
    return 0


def _metric_weights(items: Sequence[str]) -> dict[str, float]:
    """``--metric-weight cpu_pct=2`` pairs as a dict."""
    from schemas.common import METRICS

    weights = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in METRICS or not value:
            raise ValueError(f"--metric-weight {item!r}: want METRIC=WEIGHT, METRIC in {METRICS}")
        weights[name] = float(value)
    return weights


def _vms(text: str | None) -> int | list[int] | None:
    """``--vms``: a count ("100": the lowest 100 VM ids) or a list ("3,17" or "bbvm3,bbvm17")."""
    if text is None:
        return None
    parts = [p.strip().removeprefix("bbvm") for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"--vms: {text!r} is neither a count nor a list of VM ids "
                         "(e.g. 100, or 3,17, or bbvm3,bbvm17)")
    if len(parts) == 1 and "," not in text and not text.strip().startswith("bbvm"):
        if int(parts[0]) < 1:
            raise ValueError("--vms: the count must be at least 1")
        return int(parts[0])
    return [int(p) for p in parts]


def _span(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``--from``/``--to`` as ISO strings (naive: UTC), checked for order."""
    import pandas as pd

    bounds: list[pd.Timestamp | None] = []
    for flag, value in (("--from", args.start), ("--to", args.end)):
        if value is None:
            bounds.append(None)
            continue
        try:
            bounds.append(pd.Timestamp(value))
        except ValueError:
            raise ValueError(f"{flag}: {value!r} is not a date or date-time") from None
    if bounds[0] is not None and bounds[1] is not None and not bounds[0] < bounds[1]:
        raise ValueError(f"--from {args.start} must come before --to {args.end}")
    return args.start, args.end


def _check_alert_every(minutes: int) -> int:
    if minutes <= 0 or minutes % 5:
        raise ValueError(f"--alert-every: {minutes} is not a positive multiple of 5 minutes")
    return minutes


def _bitbrains_files(args: argparse.Namespace, command: str) -> list[Path]:
    if args.simulate:
        raise ValueError("--format bitbrains reads --data files; --simulate does not apply")
    if not args.data:
        raise ValueError("--format bitbrains needs --data PARQUET [PARQUET ...]")
    files = [Path(f) for f in args.data]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ValueError(f"--data: no such file: {', '.join(missing)}")
    return files


def cmd_evaluate(args: argparse.Namespace) -> int:
    from inference_worker.device import cpu_threads

    bitbrains = args.format == "bitbrains"
    try:
        if not bitbrains:
            given = [flag for flag, value in (("--alerts", args.alerts), ("--vms", args.vms),
                                              ("--from", args.start), ("--to", args.end))
                     if value]
            if given:
                raise ValueError(f"{', '.join(given)}: only with --format bitbrains")
        if args.no_accuracy and not args.alerts:
            raise ValueError("--no-accuracy leaves nothing to do without --alerts")
        _check_alert_every(args.alert_every)
        vms = _vms(args.vms)
        start, end = _span(args)
        files = _bitbrains_files(args, "evaluate") if bitbrains else []
    except ValueError as exc:
        print(f"fleetcast evaluate: {exc}", file=sys.stderr)
        return 2
    cpu_threads(args.threads)
    if bitbrains:
        from modelling.evaluate import run_evaluate_bitbrains

        report = run_evaluate_bitbrains(
            files=files, model_path=Path(args.model), out_dir=Path(args.out), vms=vms,
            start=start, end=end, stride=args.stride or 96, peers=not args.no_peers,
            peer_budget_s=args.peer_budget, peer_series_budget_s=args.peer_series_budget,
            tft=not args.no_tft, alerts=args.alerts,
            alert_every=args.alert_every, alert_forecaster=args.alert_forecaster,
            accuracy=not args.no_accuracy,
        )
        print(report)
        return 0
    from modelling.evaluate import run_evaluate
    from modelling.training import TrainingConfig

    files = _data_files(args, missing="fleetcast evaluate: give --data FILES or --simulate DAYS")
    if not files:
        return 2
    report = run_evaluate(
        files=files, fmt=args.format, metric=args.metric,
        model_path=Path(args.model), fit=args.fit, out_dir=Path(args.out),
        stride=args.stride or 48,
        training=TrainingConfig(max_epochs=args.max_epochs,
                                limit_train_batches=args.batches_per_epoch),
        alert_days=args.alert_days, alert_servers=args.alert_servers,
    )
    print(report)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit the model folder's calibration.json on a hold-out of real VMs."""
    try:
        _check_alert_every(args.alert_every)
        vms = _vms(args.vms)
        start, end = _span(args)
        args.simulate = None
        files = _bitbrains_files(args, "calibrate")
    except ValueError as exc:
        print(f"fleetcast calibrate: {exc}", file=sys.stderr)
        return 2
    from inference_worker.device import cpu_threads
    from inference_worker.tft import artifacts
    from inference_worker.tft.predict import TFTForecaster
    from modelling.bitbrains import load_bitbrains
    from modelling.calibration import fit_calibration, save_calibration
    from modelling.evaluate import select_vms
    from modelling.incident_replay import collect_pairs

    cpu_threads(args.threads)
    wide = load_bitbrains(files, vms=select_vms(files, vms), start=start, end=end)
    forecaster = TFTForecaster(artifacts.load(Path(args.model)))
    pairs, found = collect_pairs(wide, forecaster, args.alert_every)
    path = save_calibration(fit_calibration(pairs, found), Path(args.model))
    print(f"{path}: fitted on {len(pairs)} pairs, {len(found)} incidents")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from producers.replay import check_speed, load_events, plan_from_wide, run_replay

    try:
        check_speed(args.speed)
        if args.format == "bitbrains":
            if args.metric or args.server or args.scale != 1.0:
                raise ValueError("--metric, --server and --scale apply to --format nab only")
            from modelling.bitbrains import load_bitbrains
            from modelling.evaluate import select_vms

            files = [Path(f) for f in args.files]
            start, end = _span(args)
            wide = load_bitbrains(files, vms=select_vms(files, _vms(args.vms)),
                                  start=start, end=end)
            plan = plan_from_wide(wide, source=", ".join(str(f) for f in files))
        else:
            if args.vms or args.start or args.end:
                raise ValueError("--vms, --from and --to need --format bitbrains")
            plan = load_events(args.files, fmt=args.format, metric=args.metric,
                               server=args.server, scale=args.scale)
    except (ValueError, OSError) as exc:
        print(f"fleetcast replay: {exc}", file=sys.stderr)
        return 2
    stats = run_replay(_settings(), plan, speed=args.speed)
    return 1 if stats.failed or stats.unsent else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetcast",
        description="Predictive monitoring for server fleets. Settings come from the "
        "environment (KAFKA_BOOTSTRAP_SERVERS, FLEETCAST_*).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Callable[[argparse.Namespace], int], text: str
            ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        command.set_defaults(handler=handler)
        return command

    up = add("up", cmd_up, "Run the whole stack (embedded broker unless a bootstrap is given).")
    up.add_argument("--bootstrap", help="Kafka bootstrap servers; skips the embedded broker.")
    up.add_argument("--servers", type=int, help="Simulated fleet size (default 20).")
    up.add_argument("--speed", type=float, help="Simulated seconds per real second (default 120).")
    up.add_argument("--no-ui", action="store_true", help="Do not start the dashboard.")
    up.add_argument("--no-host", action="store_true",
                    help="Do not publish this machine's own metrics beside the simulator.")
    broker = add("broker", cmd_broker, "Run the embedded Kafka-compatible broker (memory only).")
    broker.add_argument("--port", type=int, help="Port to listen on (default 9092).")
    produce = add("produce", cmd_produce,
                  "Publish metric events: the fleet simulator, this host, or a node_exporter.")
    produce.add_argument("--source", choices=("sim", "host", "prometheus"), default="sim",
                         help="sim: the simulated fleet (default); host: this machine through "
                         "psutil; prometheus: scrape a node_exporter at --url.")
    produce.add_argument("--url", help="prometheus: the exporter's page, e.g. "
                         "http://127.0.0.1:9100/metrics.")
    produce.add_argument("--server", help="host, prometheus: the server id (default: the "
                         "host name, or the exporter's nodename).")
    produce.add_argument("--interval", type=float,
                         help="host, prometheus: seconds between samples (default 15).")
    produce.add_argument("--servers", type=int, help="Simulated fleet size (default 20).")
    produce.add_argument("--speed", type=float, help="Simulated seconds per real second.")
    add("process", cmd_process, "Run the Faust stream processor (metrics -> windows).")
    infer = add("infer", cmd_infer, "Run the inference worker (windows -> forecasts, alerts).")
    infer.add_argument("--device", choices=("auto", "cpu", "cuda"),
                       help="Where the model runs (default: FLEETCAST_DEVICE, else auto).")
    add("api", cmd_api, "Run the REST/WebSocket API.")
    add("ui", cmd_ui, "Run the Panel dashboard.")
    scenario = add("scenario", cmd_scenario, "Publish a scenario change to fleetcast.control.")
    scenario.add_argument("name", choices=SCENARIOS, help="The scenario.")
    scenario.add_argument("--servers", help="Comma-separated server ids (default: fleet-wide).")
    alerts = add("alerts", cmd_alerts, "Print alert events as JSON lines.")
    alerts.add_argument("--follow", action="store_true", help="Keep following new alerts.")
    alerts.add_argument("--forward", choices=("webhook", "alertmanager"),
                        help="Post each alert event to --url instead of printing it: the "
                        "event's JSON (webhook) or Alertmanager's v2 alerts API.")
    alerts.add_argument("--url", help="--forward: where to post (Alertmanager: its base URL).")
    alerts.add_argument("--group", help="--forward: consumer group (default "
                        "fleetcast-forward-<kind>); its committed offsets are where it resumes.")
    alerts.add_argument("--attempts", type=int, default=5,
                        help="--forward: tries per event before it is dead-lettered (default 5).")
    _add_model_commands(add)
    _add_calibrate_and_replay(add)
    add_bench_command(sub)
    return parser


def _add_model_commands(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    """train, evaluate and replay: the commands around the model and recorded data."""
    _add_train_command(add)
    _add_evaluate_and_replay(add)


def _add_train_command(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    train = add("train", cmd_train, "Train the TFT forecaster into models/<version>.")
    train.add_argument("--simulate", type=float, metavar="DAYS",
                       help="Add this many simulated days (with injected incidents); with "
                       "--data they end where the real data ends.")
    train.add_argument("--servers", type=int, default=20, help="Simulated fleet size.")
    train.add_argument("--data", action="append", metavar="PATH",
                       help="Training data files (repeatable): metric-event Parquet/CSV, or "
                       "Bitbrains Parquet with --format bitbrains.")
    train.add_argument("--format", choices=("wide", "bitbrains"), default="wide",
                       help="--data's shape (default wide: metric-event columns).")
    train.add_argument("--vms", type=int, metavar="N",
                       help="Train on N servers of --data drawn at random (seeded; default all).")
    train.add_argument("--max-series", type=int, metavar="N",
                       help="At most N (server, metric) series in all, drawn at random.")
    train.add_argument("--data-dir", default="data", help="Where simulated data is written.")
    train.add_argument("--models", default="models", help="Models directory.")
    train.add_argument("--version", help="Version name (default: tft-<timestamp>).")
    train.add_argument("--max-epochs", type=int, default=20)
    train.add_argument("--batches-per-epoch", type=int, default=200)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--patience", type=int, default=4,
                       help="Epochs without a better validation loss before stopping.")
    train.add_argument("--validation-fraction", type=float, default=0.2,
                       help="The last part of the time range held out for validation.")
    train.add_argument("--max-validation-samples", type=int, default=4096,
                       help="Validation windows per pass (a seeded sample).")
    train.add_argument("--hidden-size", type=int, default=16)
    train.add_argument("--attention-heads", type=int, default=2)
    train.add_argument("--hidden-continuous-size", type=int,
                       help="Default: half the hidden size.")
    train.add_argument("--dropout", type=float, default=0.1)
    train.add_argument("--learning-rate", type=float, default=3e-3)
    train.add_argument("--log1p", default="net_in_mbps,net_out_mbps,latency_ms",
                       metavar="METRICS", help="Metrics the model sees as log1p (comma-"
                       "separated; '' for none).")
    train.add_argument("--yesterday", action=argparse.BooleanOptionalAction, default=True,
                       help="The value 24 h before each decoder step as a known input.")
    train.add_argument("--scale-floor", type=float, default=0.1,
                       help="Smallest window scale, in model units (flat series).")
    train.add_argument("--metric-weight", action="append", metavar="METRIC=W",
                       help="Loss weight of a metric (repeatable; default 1).")
    train.add_argument("--resume", metavar="SAFETENSORS",
                       help="Warm-start from a stopped run's best weights, e.g. "
                       "models/.work/<version>/best.safetensors (same model options).")
    train.add_argument("--seed", type=int, default=7)
    train.add_argument("--accelerator", choices=("auto", "cpu", "gpu"), default="auto")
    train.add_argument("--threads", type=int, help="CPU threads for torch (default: half).")


def _add_evaluate_and_replay(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    evaluate = add("evaluate", cmd_evaluate,
                   "Rolling-origin backtest of the TFT against baselines; writes a report.")
    evaluate.add_argument("--data", nargs="+", metavar="FILES",
                          help="Metric-event Parquet/CSV files, or NAB CSVs with --format nab.")
    evaluate.add_argument("--simulate", type=float, metavar="DAYS",
                          help="Evaluate on this many simulated days (a held-out seed).")
    evaluate.add_argument("--servers", type=int, default=10, help="--simulate: fleet size.")
    evaluate.add_argument("--seed", type=int, default=101,
                          help="--simulate: seed (training uses 7 by default).")
    evaluate.add_argument("--data-dir", default="data", help="Where simulated data is written.")
    evaluate.add_argument("--format", choices=("wide", "nab", "bitbrains"), default="wide",
                          help="bitbrains: Parquet files shaped like the Bitbrains trace "
                          "(servers bbvm<n>).")
    evaluate.add_argument("--metric", help="nab: the metric label (default: from file names).")
    evaluate.add_argument("--model", default="models/latest", help="The model to evaluate.")
    evaluate.add_argument("--fit", action="store_true",
                          help="Train a TFT on the first 70%% of each series first.")
    evaluate.add_argument("--out", required=True, help="Report directory.")
    evaluate.add_argument("--stride", type=int,
                          help="Steps between forecast origins (default: 96 for bitbrains, "
                          "else 48).")
    evaluate.add_argument("--max-epochs", type=int, default=8, help="--fit: epochs.")
    evaluate.add_argument("--batches-per-epoch", type=int, default=80, help="--fit: batches.")
    evaluate.add_argument("--alert-days", type=float, default=0.0,
                          help="Also judge alerts on this many held-out simulated days.")
    evaluate.add_argument("--alert-servers", type=int, default=20)
    _add_bitbrains_selection(evaluate)
    evaluate.add_argument("--alerts", action="store_true",
                          help="bitbrains: also replay the product's alerts on the real "
                          "incidents beside the anchor rules, score the 8 h probability's "
                          "calibration and write alerts.jsonl.")
    evaluate.add_argument("--alert-every", type=int, default=30, metavar="MIN",
                          help="--alerts: minutes between origins (a multiple of 5, default 30).")
    evaluate.add_argument("--alert-forecaster", choices=("model", "baseline"), default="model",
                          help="--alerts: the product's forecaster: the --model (default) or "
                          "the seasonal-naive-trend baseline.")
    evaluate.add_argument("--no-peers", action="store_true",
                          help="bitbrains: leave out statsforecast's AutoTheta and AutoETS.")
    evaluate.add_argument("--peer-budget", type=float, default=600.0, metavar="SECONDS",
                          help="bitbrains: fitting time for each peer; origins past it are "
                          "declined (default 600).")
    evaluate.add_argument("--peer-series-budget", type=float, metavar="SECONDS",
                          help="bitbrains: fitting time for each peer per series, to spread "
                          "--peer-budget over all series (default: none).")
    evaluate.add_argument("--no-tft", action="store_true",
                          help="bitbrains: leave the model out of the accuracy backtest.")
    evaluate.add_argument("--no-accuracy", action="store_true",
                          help="bitbrains, with --alerts: alert quality and calibration only "
                          "(no accuracy backtest), e.g. to run the two on two cores.")
    evaluate.add_argument("--threads", type=int, help="CPU threads for torch (default: half).")


def _add_calibrate_and_replay(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    """calibrate and replay: the commands that read recorded real data."""
    calibrate = add("calibrate", cmd_calibrate,
                    "Fit MODEL/calibration.json (p_30m, p_8h) on a hold-out of Bitbrains VMs.")
    calibrate.add_argument("--model", default="models/latest", help="The model folder.")
    calibrate.add_argument("--data", nargs="+", metavar="PARQUET", required=True,
                           help="Bitbrains Parquet files the model was not trained on.")
    _add_bitbrains_selection(calibrate)
    calibrate.add_argument("--alert-every", type=int, default=30, metavar="MIN",
                           help="Minutes between origins (a multiple of 5, default 30).")
    calibrate.add_argument("--threads", type=int, help="CPU threads for torch (default: half).")
    replay = add("replay", cmd_replay,
                 "Replay recorded metrics (CSV or Parquet files) onto fleetcast.metrics.")
    replay.add_argument("files", nargs="+", metavar="FILES",
                        help="CSV (.csv) or Parquet (.parquet, .pq) files, merged in time order.")
    replay.add_argument("--format", choices=("wide", "nab", "bitbrains"), default="wide",
                        help="wide: MetricEvent columns (server_id, timestamp, metrics); "
                        "nab: timestamp,value with --metric and --server; bitbrains: the "
                        "Bitbrains trace's Parquet, servers bbvm<n> (default wide).")
    _add_bitbrains_selection(replay)
    replay.add_argument("--metric", help="nab: the metric the values are (cpu_pct, ...).")
    replay.add_argument("--server", help="nab: the server id the values belong to.")
    replay.add_argument("--scale", type=float, default=1.0,
                        help="nab: multiply values by this for unit conversion (default 1).")
    replay.add_argument("--speed", type=float, default=None,
                        help="Simulated seconds per real second, paced by event time "
                        "(default: as fast as possible).")


def _add_bitbrains_selection(command: argparse.ArgumentParser) -> None:
    command.add_argument("--vms", help="bitbrains: a count (the lowest N VM ids) or a list "
                         "(3,17 or bbvm3,bbvm17); default all.")
    command.add_argument("--from", dest="start", metavar="TIME",
                         help="bitbrains: first sample time (inclusive; naive is UTC).")
    command.add_argument("--to", dest="end", metavar="TIME",
                         help="bitbrains: end time (exclusive).")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        configure_logging(Settings().log_level)
    except ValidationError as exc:
        print(f"fleetcast: bad settings in the environment: {describe_validation_error(exc)}",
              file=sys.stderr)
        return 2
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
