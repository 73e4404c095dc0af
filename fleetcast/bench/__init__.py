"""``fleetcast bench``: throughput of the worker's model path, latency of the whole pipeline,
load on the stack and the dashboard under sessions.

    fleetcast bench inference [--device cpu|cuda] [--servers 100,1000,10000] [--json]
    fleetcast bench bf16 [--servers 200] [--json]
    fleetcast bench pipeline --servers N [--history-hours 24] [--batch-size B] [--json]
    fleetcast bench load [--servers 10000] [--minutes 30] [--infer-workers 1]
    fleetcast bench ui [--sessions 20] [--servers 1000]
    fleetcast bench ws [--clients 100]

Figures and the command lines that produced them are kept in BENCHMARKS.md. Each bench module
adds its subcommands to ``fleetcast bench`` through the one list below; each sets
``bench_handler``, and none loads anything heavy until it runs.
"""

from __future__ import annotations

from typing import Any

from fleetcast.bench.command import add_model_benches
from fleetcast.bench.load import add_load_bench
from fleetcast.bench.ui import add_ui_bench
from fleetcast.bench.ws import add_ws_bench

BENCHES = (add_model_benches, add_load_bench, add_ui_bench, add_ws_bench)


def add_bench_command(sub: Any) -> None:
    """``fleetcast bench <kind>`` on the CLI's subparsers, every kind in ``BENCHES``."""
    text = "Benchmarks (see BENCHMARKS.md)."
    bench = sub.add_parser("bench", help=text, description=text)
    bench.set_defaults(handler=lambda args: int(args.bench_handler(args)))
    kinds = bench.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for add in BENCHES:
        add(kinds)


__all__ = ["BENCHES", "add_bench_command"]
