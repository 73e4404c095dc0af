"""The ``fleetcast bench`` subcommands: arguments in, figures out (a table or JSON lines)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.settings import Settings


def _sizes(text: str) -> list[int]:
    sizes = [int(part) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("give fleet sizes like 100,1000,10000")
    return sizes


def _emit(args: argparse.Namespace, figures: dict[str, Any], line: str) -> None:
    print(json.dumps(figures) if args.json else line, flush=True)


def _model_and_serving(args: argparse.Namespace) -> tuple[Any, Any]:
    """The model at --model on --device, one torch thread on the CPU (a shared machine)."""
    from inference_worker.device import DeviceUnavailableError, cpu_threads, pick_device
    from inference_worker.tft.artifacts import load
    from inference_worker.tft.direct import Serving

    try:
        device = pick_device(args.device)
    except DeviceUnavailableError as exc:
        print(f"fleetcast bench: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    cpu_threads(args.threads)
    return load(args.model), Serving(device=device, bf16=args.bf16,
                                     compile=getattr(args, "compile", False),
                                     chunk_windows=args.chunk or None)


def cmd_inference(args: argparse.Namespace) -> int:
    from fleetcast.bench.inference import TABLE_HEADER, bench_inference, table_row

    model, serving = _model_and_serving(args)
    if args.profile:
        from fleetcast.bench.inference import profile_batch

        for name, table in profile_batch(model, serving, batch=args.batch,
                                         old_path=args.old_path):
            print(f"{name} path, one batch of {args.batch} windows\n{table}", flush=True)
        return 0
    if not args.json:
        print(f"model {model.version}, batch {args.batch} in passes of "
              f"{serving.chunk_windows or args.batch}, bf16 {serving.bf16}, "
              f"compile {serving.compile}, threads {args.threads}\n{TABLE_HEADER}")
    for figures in bench_inference(model, serving, args.servers, batch=args.batch,
                                   predict_limit=args.predict_limit, old_path=args.old_path):
        _emit(args, figures.to_json(), table_row(figures))
    return 0


def cmd_bf16(args: argparse.Namespace) -> int:
    from fleetcast.bench.precision import bench_bf16

    model, serving = _model_and_serving(args)
    figures = bench_bf16(model, serving, args.servers, batch=args.batch).to_json()
    _emit(args, figures, "  ".join(f"{k} {v}" for k, v in figures.items()))
    return 0


def stack_settings(args: argparse.Namespace) -> Settings:
    """The stack benches' settings from their shared arguments."""
    return Settings(servers=args.servers, speed=args.speed, backfill_hours=args.backfill_hours,
                    forecaster=args.forecaster, batch_size=args.batch_size,
                    forward_chunk_windows=args.chunk)


def cmd_pipeline(args: argparse.Namespace) -> int:
    from fleetcast.bench.latency import bench_pipeline

    settings = stack_settings(args)
    figures = bench_pipeline(settings, warm_up_s=args.warm_up, duration_s=args.duration,
                             history_hours=args.history_hours)
    _emit(args, figures.to_json(),
          "  ".join(f"{k} {v}" for k, v in figures.to_json().items()))
    return model_ran(args.forecaster, figures.forecasts, figures.computed)


def model_ran(forecaster: str, forecasts: int, by_version: dict[str, int]) -> int:
    """3, saying so, when the model did not compute every timed forecast (``by_version``:
    counts per model version): a run with servers still warming up measures the plumbing,
    not forecasting, and must not pass for it."""
    from fleetcast.bench.latency import model_computed

    computed = model_computed(by_version, forecaster)
    if forecaster == "baseline" or computed == forecasts:
        return 0
    print(f"fleetcast bench: the model computed {computed} of {forecasts} timed forecasts "
          "(the rest were warming up: too short a history; see --history-hours)",
          file=sys.stderr)
    return 3


def add_stack_arguments(command: argparse.ArgumentParser, *, speed: float,
                        forecaster: str) -> None:
    """The fleet, its history and the worker's batch: shared by ``pipeline`` and ``load``."""
    command.add_argument("--speed", type=float, default=speed,
                         help="Simulated seconds per real second (a step closes every "
                         "300/speed s).")
    command.add_argument("--history-hours", type=float, default=24.0,
                         help="Closed history seeded for every server before the stack starts "
                         "(at most the 24 h context; see fleetcast/bench/seeding.py).")
    command.add_argument("--backfill-hours", type=float, default=0.0,
                         help="The producer's own backfill, through the stream processor.")
    command.add_argument("--forecaster", choices=("auto", "tft", "baseline"), default=forecaster)
    command.add_argument("--batch-size", type=int,
                         default=Settings.model_fields["batch_size"].default,
                         help="The inference worker's batch size (default: its setting's).")
    _chunk_argument(command)


def _model_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    command.add_argument("--model", default="models/latest", help="The model to run.")
    # The worker's default batch size, taken from the field rather than Settings():
    # a bad environment must fail in main() with a clear message, not while parsing.
    command.add_argument("--batch", type=int, default=Settings.model_fields["batch_size"].default,
                         help="Windows per forward pass (default: the worker's batch size).")
    _chunk_argument(command)
    command.add_argument("--threads", type=int, default=1, help="CPU threads for torch.")
    command.add_argument("--json", action="store_true", help="One JSON object per result.")


def _chunk_argument(command: argparse.ArgumentParser) -> None:
    command.add_argument("--chunk", type=int,
                         default=Settings.model_fields["forward_chunk_windows"].default,
                         help="Windows per forward pass within a batch, 0 for the whole batch "
                         "(default: the worker's setting, FLEETCAST_FORWARD_CHUNK_WINDOWS).")


def add_model_benches(kinds: Any) -> None:
    """``fleetcast bench inference|bf16|pipeline`` on the subparsers of ``fleetcast bench``."""
    inference = kinds.add_parser("inference", help="model.predict() beside the worker path.")
    inference.set_defaults(bench_handler=cmd_inference)
    _model_arguments(inference)
    inference.add_argument("--servers", type=_sizes, default=[100, 1000, 10000],
                           help="Comma-separated fleet sizes (default 100,1000,10000).")
    inference.add_argument("--bf16", action="store_true", help="bf16 autocast (also on CPU).")
    inference.add_argument("--predict-limit", type=int, default=1000,
                           help="Time model.predict() on at most this many servers (it is slow "
                           "and its rate does not depend on the fleet size).")
    inference.add_argument("--old-path", action="store_true",
                           help="Also time the direct path before the serving forward (the "
                           "library's forward, interpolation swapped only), in the same run.")
    inference.add_argument("--profile", action="store_true",
                           help="Instead of timing: torch.profiler's table of one batch "
                           "(and of the old path's, with --old-path).")
    inference.add_argument("--compile", action="store_true",
                           help="torch.compile the worker's network (inductor; the first "
                           "batch of each shape compiles, outside the timing).")
    bf16 = kinds.add_parser("bf16", help="How far bf16 autocast moves forecasts from fp32.")
    bf16.set_defaults(bench_handler=cmd_bf16, bf16=True)
    _model_arguments(bf16)
    bf16.add_argument("--servers", type=int, default=200)
    pipeline = kinds.add_parser("pipeline", help="Step closed -> forecast published latency.")
    pipeline.set_defaults(bench_handler=cmd_pipeline)
    pipeline.add_argument("--servers", type=int, required=True)
    add_stack_arguments(pipeline, speed=60.0, forecaster="tft")
    pipeline.add_argument("--warm-up", type=float, default=30.0, help="Seconds not measured.")
    pipeline.add_argument("--duration", type=float, default=60.0, help="Seconds measured.")
    pipeline.add_argument("--json", action="store_true")

