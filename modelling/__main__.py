"""Backtest the baselines and write a report. Usage::

python -m modelling --out reports/nab-baselines            # NAB AWS series
python -m modelling --wide events.parquet --out reports/x  # fleetcast events
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.settings import Settings
from modelling.backtest import SeriesData, backtest
from modelling.baselines import default_models
from modelling.nab import (
    load_nab_series,
    load_wide_series,
    nab_aws_files,
    nab_dir,
)
from modelling.report import write_report
from schemas.grid import HORIZON_STEPS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelling")
    parser.add_argument("--nab", default=str(nab_dir(Settings().data_dir)),
                        help="NAB data folder (default: FLEETCAST_DATA_DIR/nab, "
                        "../shared/data/nab)")
    parser.add_argument("--wide", default=None, help="Parquet/CSV of metric events instead of NAB")
    parser.add_argument("--out", required=True, help="folder for report.json, report.md, plots/")
    parser.add_argument("--horizon", type=int, default=HORIZON_STEPS)
    parser.add_argument("--holdout", type=float, default=0.3)
    parser.add_argument("--stride", type=int, default=48)
    args = parser.parse_args(argv)

    series: list[SeriesData]
    if args.wide:
        series, source = load_wide_series(args.wide), str(args.wide)
    else:
        files = nab_aws_files(args.nab)
        if not files:
            print(f"no CSV files under {args.nab}/realAWSCloudwatch", file=sys.stderr)
            return 2
        series, source = load_nab_series(files), f"NAB realAWSCloudwatch ({len(files)} files)"
    models = default_models()
    started = time.perf_counter()
    result = backtest(series, models, args.horizon, args.holdout, args.stride)
    path = write_report(
        result,
        Path(args.out),
        title=f"Baselines on {source}",
        model_notes={m.name: str(getattr(m, "description", "")) for m in models},
    )
    print(f"{path} ({time.perf_counter() - started:.1f} s)")
    for name, s in result.models.items():
        cov = "-" if s.coverage is None else f"{s.coverage:.3f}"
        per_call = result.model_info[name].seconds_per_call
        print(
            f"{name:18s} MASE {s.mase:.3f}  pinball {s.pinball:.3f}  coverage {cov}  "
            f"{per_call:.4f} s/call"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
