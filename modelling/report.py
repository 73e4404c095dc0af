"""Writing a backtest up: ``report.json`` for machines, ``report.md`` with plots for people.

``report.json`` is ``{"models": {"<name>": {"mase": x, "pinball": y, "coverage_p10_p90": z}}}``
(``z`` null for a model without quantiles) plus the keys ``per_metric`` (same shape per metric
label), ``series`` (per series and model), ``model_info`` (calls, seconds, fallbacks),
``settings``, ``skipped_origins``, ``backtest_seconds`` and ``title``. Non-finite numbers are
written as null so the file is strict JSON.

Each ``models.<name>`` also holds ``mase_median`` (the median over series of the per-series
MASE) and ``per_metric.<metric>.{mase_median, coverage_p10_p90}`` (coverage: the mean over
that metric's series, as the top-level figure). Medians leave out the series whose seasonal
scale is negligible (``NEGLIGIBLE_SCALE``: e.g. network traffic that is zero all through the
training part): any error on them divided by a scale of ~0 gives a MASE in the millions,
which says nothing about the model. They are counted in ``negligible_scale_series`` and stay
in the means, which is why the means are not the figures to read. Sections added by the
caller (alert quality, calibration) are merged in as top-level keys.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelling.backtest import BacktestResult, ExampleForecast, Scores

PLOTS_DIR = "plots"
#: Below this seasonal scale a series is left out of the medians (see the module docstring).
NEGLIGIBLE_SCALE = 1e-6


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return round(float(x), digits)


def _scores_json(s: Scores) -> dict[str, float | None]:
    return {"mase": _num(s.mase), "pinball": _num(s.pinball), "coverage_p10_p90": _num(s.coverage)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float | np.floating):
        return _num(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _median(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else None


def mase_medians(result: BacktestResult) -> dict[str, dict[str | None, float | None]]:
    """Per model, the median per-series MASE overall (key None) and per metric, leaving out
    series of negligible scale."""
    rows = [r for r in result.per_series if r.scale > NEGLIGIBLE_SCALE]
    out: dict[str, dict[str | None, float | None]] = {}
    for name in result.models:
        mine = [r for r in rows if r.model == name]
        out[name] = {None: _median([r.scores.mase for r in mine])}
        for metric in result.per_metric:
            out[name][metric] = _median([r.scores.mase for r in mine if r.metric == metric])
    return out


def negligible_scale_series(result: BacktestResult) -> list[str]:
    return sorted({f"{r.series}/{r.metric}" for r in result.per_series
                   if r.scale <= NEGLIGIBLE_SCALE})


def _model_json(result: BacktestResult, name: str,
                medians: Mapping[str, Mapping[str | None, float | None]]) -> dict[str, Any]:
    return {
        **_scores_json(result.models[name]),
        "mase_median": _num(medians[name][None]),
        "per_metric": {
            metric: {"mase_median": _num(medians[name][metric]),
                     "coverage_p10_p90": _num(by_model[name].coverage)}
            for metric, by_model in result.per_metric.items()
        },
    }


def report_dict(result: BacktestResult, title: str = "",
                sections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The content of ``report.json``; ``sections`` are added as top-level keys."""
    medians = mase_medians(result)
    return {
        "models": {name: _model_json(result, name, medians) for name in result.models},
        "negligible_scale_series": negligible_scale_series(result),
        "per_metric": {
            metric: {name: _scores_json(s) for name, s in by_model.items()}
            for metric, by_model in result.per_metric.items()
        },
        "series": [
            {
                "series": r.series,
                "metric": r.metric,
                "model": r.model,
                "scale": _num(r.scale, 9),
                "origins": r.origins,
                **_scores_json(r.scores),
            }
            for r in result.per_series
        ],
        "model_info": {
            name: {
                "has_quantiles": i.has_quantiles,
                "calls": i.calls,
                "seconds": _num(i.seconds, 3),
                "seconds_per_call": _num(i.seconds_per_call, 5),
                "max_seconds_per_call": _num(i.max_seconds, 5),
                **_jsonable(i.extra),
            }
            for name, i in result.model_info.items()
        },
        "settings": _jsonable(result.settings),
        "skipped_origins": result.skipped_origins,
        "backtest_seconds": _num(result.seconds, 3),
        "title": title,
        **_jsonable(dict(sections or {})),
    }


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def _scores_table(scores: Mapping[str, Scores], info: BacktestResult | None = None) -> list[str]:
    # A model scored on fewer forecasts than the others (it declined origins) is not "best".
    most = max((s.n_forecasts for s in scores.values()), default=0)
    finite = [s.mase for s in scores.values() if math.isfinite(s.mase) and s.n_forecasts == most]
    best = min(finite) if finite else None
    header = "| model | MASE | scaled pinball | coverage p10-p90 | series | forecasts |"
    rule = "|---|---:|---:|---:|---:|---:|"
    if info is not None:
        header += " s / call |"
        rule += "---:|"
    lines = [header, rule]
    for name, s in sorted(scores.items(), key=lambda kv: _sort_key(kv[1].mase)):
        mase = _fmt(s.mase)
        if best is not None and s.mase == best:
            mase, name_cell = f"**{mase}**", f"**{name}**"
        else:
            name_cell = name
        row = (
            f"| {name_cell} | {mase} | {_fmt(s.pinball)} | {_fmt(s.coverage)} | "
            f"{s.n_series} | {s.n_forecasts} |"
        )
        if info is not None:
            row += f" {_fmt(info.model_info[name].seconds_per_call, 4)} |"
        lines.append(row)
    return lines


def _median_table(result: BacktestResult) -> list[str]:
    """Median MASE per metric and mean coverage per metric, one row per model."""
    medians = mase_medians(result)
    metrics = list(result.per_metric)
    lines = [
        "| model | MASE median | " + " | ".join(f"MASE {m}" for m in metrics) + " | "
        + " | ".join(f"coverage {m}" for m in metrics) + " |",
        "|---|---:|" + "---:|" * (2 * len(metrics)),
    ]
    for name in sorted(result.models, key=lambda n: _sort_key(medians[n][None] or math.inf)):
        lines.append(
            f"| {name} | {_fmt(medians[name][None])} | "
            + " | ".join(_fmt(medians[name][m]) for m in metrics) + " | "
            + " | ".join(_fmt(result.per_metric[m][name].coverage) for m in metrics) + " |"
        )
    skipped = negligible_scale_series(result)
    most = max((s.n_forecasts for s in result.models.values()), default=0)
    partial = [f"{name} ({s.n_forecasts} of {most} forecasts)"
               for name, s in result.models.items() if s.n_forecasts < most]
    if partial:
        lines += ["", "Scored on fewer origins than the others (declined the rest, see "
                  f"\"What each model is\"): {', '.join(partial)}; not comparable as they are."]
    lines += [
        "",
        f"Medians leave out {len(skipped)} series whose seasonal scale is below "
        f"{NEGLIGIBLE_SCALE:g} (flat or zero in their training part; their MASE is error / ~0)"
        + (f": {', '.join(skipped[:20])}{' ...' if len(skipped) > 20 else ''}." if skipped
           else "."),
    ]
    return lines


def _sort_key(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def _minute(ts: np.datetime64) -> str:
    return str(np.asarray(ts).astype("datetime64[m]")).replace("T", " ")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "series"


def _pick_examples(examples: Sequence[ExampleForecast], count: int) -> list[ExampleForecast]:
    """Up to ``count`` examples, taking the metrics in turn so each kind of series shows."""
    by_metric: dict[str, list[ExampleForecast]] = {}
    for ex in examples:
        by_metric.setdefault(ex.metric, []).append(ex)
    picked: list[ExampleForecast] = []
    while len(picked) < count and any(by_metric.values()):
        for group in by_metric.values():
            if group and len(picked) < count:
                picked.append(group.pop(0))
    return picked


def plot_example(example: ExampleForecast, path: Path) -> None:
    """One panel per model: history tail, truth, p50 line and the p10-p90 band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(example.forecasts)
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(6.5 * cols, 3.2 * rows), sharex=True, sharey=True, squeeze=False
    )
    for ax, name in zip(axes.ravel(), names, strict=False):
        p10, p50, p90 = example.forecasts[name]
        ax.plot(example.history_timestamps, example.history, color="0.55", lw=0.9, label="history")
        ax.plot(example.timestamps, example.actual, color="black", lw=1.1, label="actual")
        if np.isfinite(p10).all() and np.isfinite(p90).all():
            ax.fill_between(
                example.timestamps, p10, p90, color="tab:blue", alpha=0.25, label="p10-p90"
            )
        ax.plot(example.timestamps, p50, color="tab:blue", lw=1.4, label="p50")
        ax.axvline(example.origin, color="tab:red", lw=0.8, ls="--")
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    legend: dict[str, Any] = {}
    for ax in axes.ravel()[: len(names)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, handle)
    fig.legend(list(legend.values()), list(legend), loc="upper right", fontsize=8, ncol=4)
    fig.suptitle(
        f"{example.series} ({example.metric}), origin {_minute(example.origin)}",
        fontsize=11,
        x=0.02,
        ha="left",
    )
    fig.autofmt_xdate()
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(
    result: BacktestResult,
    out_dir: str | Path,
    *,
    title: str,
    model_notes: Mapping[str, str],
    extra_sections: Sequence[str] = (),
    extra_json: Mapping[str, Any] | None = None,
    max_plots: int = 6,
) -> Path:
    """Write ``report.json``, ``report.md`` and ``plots/*.png`` into ``out_dir``; returns the
    path of ``report.md``. ``extra_sections`` are Markdown blocks appended as they are."""
    out = Path(out_dir)
    (out / PLOTS_DIR).mkdir(parents=True, exist_ok=True)
    content = report_dict(result, title, extra_json)
    (out / "report.json").write_text(json.dumps(content, indent=2) + "\n")

    st = result.settings
    md = [
        f"# {title}",
        "",
        f"Rolling-origin backtest over {st.get('series')} series: horizon {st.get('horizon')} "
        f"steps of 5 minutes, the last {st['holdout_fraction']:.0%} of every "
        f"series held out, a forecast origin every {st.get('stride')} steps in it; every model "
        f"sees only the history before the origin. {_fmt(result.seconds, 1)} s in all"
        + (
            f", {result.skipped_origins} origins skipped (no data)."
            if result.skipped_origins
            else "."
        ),
        "",
        "## Models",
        "",
        *_scores_table(result.models, result),
        "",
        "Best MASE in bold. Figures are averaged over series (each series weighs the same).",
        "",
        "## Medians over series",
        "",
        *_median_table(result),
        "",
        "## Per metric",
        "",
    ]
    for metric, by_model in result.per_metric.items():
        md += [f"### {metric}", "", *_scores_table(by_model), ""]
    md += [
        "## How to read the figures",
        "",
        "- **MASE**: mean absolute error of p50 over the horizon, divided by the series' scale: "
        f"the mean absolute change over one season ({st.get('season')} steps) in the first "
        "part of the series, i.e. the in-sample error of the seasonal naive forecast. Below 1: "
        "better than that; comparable across series of any unit.",
        "- **scaled pinball**: the quantile (pinball) loss averaged over p10, p50 and p90 and "
        "the horizon, divided by the same scale. A model without quantiles is scored with its "
        "p50 as every quantile, which makes its scaled pinball half its MASE.",
        "- **coverage p10-p90**: share of actual values inside [p10, p90]; 0.80 is calibrated. "
        "'-' for models without quantiles.",
        "- Gaps in the actual values are not scored.",
        "",
        "## What each model is",
        "",
    ]
    for name in result.models:
        note = model_notes.get(name) or result.model_info[name].description or "(no description)"
        md.append(f"- **{name}**: {note}")
        extra = result.model_info[name].extra
        if extra:
            md.append(f"  Counters: `{json.dumps(_jsonable(extra))}`")
    md.append("")

    picked = _pick_examples(result.examples, max_plots)
    if picked:
        md += ["## Example forecasts", ""]
        md.append(
            "Grey: history, black: what happened, blue: p50 and the p10-p90 band, "
            "red dashes: forecast origin."
        )
        md.append("")
        for i, example in enumerate(picked):
            file = f"{PLOTS_DIR}/{i:02d}_{_slug(example.series)}.png"
            plot_example(example, out / file)
            md += [f"![{example.series} at {_minute(example.origin)}]({file})", ""]
    for section in extra_sections:
        md += [section.rstrip(), ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    return path
