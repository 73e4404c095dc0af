from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelling.backtest import SeriesData, backtest
from modelling.baselines import ETS, LastValue, LinearTrend, Model, SeasonalNaive
from modelling.report import write_report

STEP = np.timedelta64(5, "m")


def series(name: str, metric: str, steps: int, seed: int) -> SeriesData:
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    values = 40 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, steps)
    values[50:55] = np.nan
    return SeriesData(name, metric, np.datetime64("2024-03-01T00:00") + t * STEP, values)


def strict_json(text: str) -> dict[str, Any]:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_report_json_shape_markdown_and_plots(tmp_path: Path) -> None:
    data = [series("web/cpu", "cpu_pct", 700, 1), series("db/mem", "mem_pct", 700, 2)]
    ets = ETS(season=288, fit_steps=300, seasonal=False)
    models: list[Model] = [LastValue(), SeasonalNaive(), LinearTrend(), ets]
    result = backtest(data, models, horizon=24, stride=48)
    notes = {"last_value": "the last value", "ets_statsmodels": "ETS, reduced for the test"}
    path = write_report(
        result,
        tmp_path / "out",
        title="Test report",
        model_notes=notes,
        extra_sections=["## Caveats\n\nSynthetic data."],
    )

    report = strict_json((tmp_path / "out" / "report.json").read_text())
    assert set(report["models"]) == {m.name for m in models}
    for name, scores in report["models"].items():
        assert set(scores) == {"mase", "pinball", "coverage_p10_p90", "mase_median", "per_metric"}
        assert isinstance(scores["mase"], float) and isinstance(scores["pinball"], float)
        if name == "ets_statsmodels":
            assert 0.0 <= scores["coverage_p10_p90"] <= 1.0
        else:
            assert scores["coverage_p10_p90"] is None
    assert set(report["per_metric"]) == {"cpu_pct", "mem_pct"}
    assert set(report["per_metric"]["cpu_pct"]["last_value"]) == {
        "mase",
        "pinball",
        "coverage_p10_p90",
    }
    assert len(report["series"]) == 2 * len(models)
    assert report["settings"]["horizon"] == 24
    assert report["model_info"]["ets_statsmodels"]["calls"] == ets.calls > 0

    assert path == tmp_path / "out" / "report.md"
    md = path.read_text()
    assert md.startswith("# Test report")
    best = min(report["models"], key=lambda n: report["models"][n]["mase"])
    assert re.search(rf"\| \*\*{best}\*\* \| \*\*\d+\.\d+\*\* \|", md)
    assert "### cpu_pct" in md and "### mem_pct" in md
    assert "the last value" in md and "ETS, reduced for the test" in md
    assert "Least-squares line" in md  # no note given: the model's own description
    assert md.rstrip().endswith("Synthetic data.")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(images) == 2
    for image in images:
        assert not Path(image).is_absolute()
        assert (path.parent / image).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_writes_null_for_non_finite_figures(tmp_path: Path) -> None:
    result = backtest([series("s", "cpu_pct", 400, 3)], [LastValue()], horizon=12)
    result.models["last_value"].mase = float("nan")
    write_report(result, tmp_path, title="t", model_notes={})
    report = strict_json((tmp_path / "report.json").read_text())
    assert report["models"]["last_value"]["mase"] is None
    assert report["models"]["last_value"]["pinball"] == pytest.approx(
        result.models["last_value"].pinball, rel=1e-5
    )
