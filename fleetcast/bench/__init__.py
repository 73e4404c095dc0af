"""``fleetcast bench``: throughput of the worker's model path and latency of the whole pipeline.

    fleetcast bench inference [--device cpu|cuda] [--servers 100,1000,10000] [--json]
    fleetcast bench bf16 [--servers 200] [--json]
    fleetcast bench pipeline --servers N [--json]

Figures and the command lines that produced them are kept in BENCHMARKS.md.
"""

from __future__ import annotations

from fleetcast.bench.command import add_bench_commands

__all__ = ["add_bench_commands"]
