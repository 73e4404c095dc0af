"""How well the worker's crossing probabilities are calibrated, and fitting the calibration.

The pairs are collected by replaying the product's path (``incident_replay``):
at every origin, for each server and incident metric (``cpu_pct``,
``mem_pct``), the raw crossing scores of the forecast at the incident level
(95, ``inference_worker.breach.crossing_score``: the largest per-step
exceedance within 30 minutes and within 8 hours). The outcome of a pair is
"an incident of that server and metric starts within the window after the
origin" (``[origin, origin + 30 min]`` or ``[origin, origin + 8 h]``, the
incident definitions of ``modelling.incidents``).

- **Brier score**: mean squared difference between the probability and the
  0/1 outcome. **Climatology** forecasts the base rate of the outcome over the
  same pairs at every origin; its Brier score is ``rate * (1 - rate)``. A
  probability below climatology's score knows more than the base rate.
- ``fit_calibration`` turns hold-out pairs into the model folder's
  ``calibration.json`` (``{"p_30m": {"x", "y"}, "p_8h": {...}}``, the
  ``Calibration.to_json()`` form the worker reads) by isotonic regression.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inference_worker.breach import CALIBRATION_FILE, BreachCalibration, fit_isotonic
from inference_worker.breach import load_calibration as read_calibration
from modelling.incidents import Incident

KEYS = ("p_30m", "p_8h")
WINDOW_NS = {"p_30m": 30 * 60 * 10**9, "p_8h": 8 * 3600 * 10**9}


@dataclass(frozen=True)
class CrossingPairs:
    """Raw crossing scores at origins: one row per (server, metric, origin)."""

    server_id: np.ndarray  # object (str)
    metric: np.ndarray  # object (str)
    origin_ns: np.ndarray  # int64
    score_30m: np.ndarray  # float64, raw (uncalibrated)
    score_8h: np.ndarray

    @classmethod
    def empty(cls) -> CrossingPairs:
        return cls.concat([])

    @classmethod
    def concat(cls, parts: Sequence[CrossingPairs]) -> CrossingPairs:
        def cat(name: str, dtype: type | str) -> np.ndarray:
            arrays = [np.asarray(getattr(p, name)) for p in parts]
            return np.concatenate(arrays).astype(dtype) if arrays else np.array([], dtype=dtype)

        return cls(cat("server_id", object), cat("metric", object), cat("origin_ns", np.int64),
                   cat("score_30m", np.float64), cat("score_8h", np.float64))

    def __len__(self) -> int:
        return len(self.origin_ns)

    def to_json(self) -> dict[str, list[object]]:
        return {
            "server_id": [str(s) for s in self.server_id],
            "metric": [str(m) for m in self.metric],
            "origin_ns": [int(t) for t in self.origin_ns],
            "score_30m": [None if not np.isfinite(v) else float(v) for v in self.score_30m],
            "score_8h": [None if not np.isfinite(v) else float(v) for v in self.score_8h],
        }

    @classmethod
    def from_json(cls, data: dict[str, list[object]]) -> CrossingPairs:
        def floats(key: str) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in data[key]], dtype=np.float64)

        return cls(np.array(data["server_id"], dtype=object),
                   np.array(data["metric"], dtype=object),
                   np.array(data["origin_ns"], dtype=np.int64), floats("score_30m"),
                   floats("score_8h"))


def outcomes(pairs: CrossingPairs, incidents: Sequence[Incident], window_ns: int) -> np.ndarray:
    """Per pair: does an incident of its server and metric start in ``[origin, origin + w]``?"""
    by_key: dict[tuple[str, str], list[int]] = {}
    for incident in incidents:
        by_key.setdefault((incident.server_id, incident.metric), []).append(
            int(incident.at.as_unit("ns").value))
    out = np.zeros(len(pairs), dtype=bool)
    keys = np.char.add(pairs.server_id.astype(str), np.char.add("|", pairs.metric.astype(str)))
    for (server, metric), times in by_key.items():
        rows = np.flatnonzero(keys == f"{server}|{metric}")
        if not len(rows):
            continue
        starts = np.sort(np.array(times, dtype=np.int64))
        origin = pairs.origin_ns[rows]
        nxt = np.searchsorted(starts, origin, side="left")
        found = nxt < len(starts)
        hit = np.zeros(len(rows), dtype=bool)
        hit[found] = starts[nxt[found]] <= origin[found] + window_ns
        out[rows] = hit
    return out


def brier(probability: np.ndarray, outcome: np.ndarray) -> float | None:
    p = np.asarray(probability, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    return float(np.mean((p - o) ** 2)) if len(p) else None


def climatology_brier(outcome: np.ndarray) -> float | None:
    """Brier score of forecasting the base rate of ``outcome`` everywhere."""
    o = np.asarray(outcome, dtype=np.float64)
    if not len(o):
        return None
    rate = float(o.mean())
    return rate * (1.0 - rate)


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    mean_probability: float
    observed_rate: float
    count: int


def reliability(probability: np.ndarray, outcome: np.ndarray, bins: int = 10
                ) -> list[ReliabilityBin]:
    """Equal-width probability bins with their mean forecast and observed frequency."""
    p = np.asarray(probability, dtype=np.float64)
    o = np.asarray(outcome, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]),
                                      float(p[inside].mean()), float(o[inside].mean()),
                                      int(inside.sum())))
    return out


def plot_reliability(table: Sequence[ReliabilityBin], path: Path, title: str) -> None:
    """Observed frequency against forecast probability per bin (the diagonal is calibrated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5.5, 6.5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="calibrated")
    ax.plot([b.mean_probability for b in table], [b.observed_rate for b in table],
            marker="o", color="tab:blue", label="forecast")
    ax.set_ylabel("observed frequency")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    counts.bar([(b.low + b.high) / 2 for b in table], [b.count for b in table],
               width=0.09, color="tab:blue", alpha=0.6)
    counts.set_yscale("log")
    counts.set_xlabel("forecast probability")
    counts.set_ylabel("pairs")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def fit_calibration(pairs: CrossingPairs, incidents: Sequence[Incident], bins: int = 20
                    ) -> BreachCalibration:
    """The worker's ``BreachCalibration`` (p_30m, p_8h), by isotonic regression on hold-out
    pairs."""
    fitted = {}
    for key, raw in (("p_30m", pairs.score_30m), ("p_8h", pairs.score_8h)):
        seen = np.isfinite(raw)
        outcome = outcomes(pairs, incidents, WINDOW_NS[key])
        fitted[key] = fit_isotonic(raw[seen], outcome[seen].astype(np.float64), bins=bins)
    return BreachCalibration(p_30m=fitted["p_30m"], p_8h=fitted["p_8h"])


def save_calibration(calibration: BreachCalibration, model_dir: Path) -> Path:
    """Write ``calibration.json`` into the model folder (``models/latest`` is followed)."""
    from inference_worker.tft.artifacts import resolve

    path = resolve(Path(model_dir)) / CALIBRATION_FILE
    path.write_text(json.dumps(calibration.to_json(), indent=2) + "\n")
    return path


def load_calibration(model_dir: Path | None) -> BreachCalibration | None:
    """The model folder's calibration as the worker reads it, or None when it has none."""
    if model_dir is None:
        return None
    from inference_worker.tft.artifacts import resolve

    folder = resolve(Path(model_dir))
    if not (folder / CALIBRATION_FILE).is_file():
        return None
    return read_calibration(folder)
