"""Top problem servers: ranked by risk, with the reason (metric, current value, breach time)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from schemas.thresholds import thresholds_for
from ui.risk import format_probability
from ui.views.common import Context, Redraw, breach_text, level_of, number, severity_text, table

COLUMNS = ["#", "server", "profile", "severity", "risk", "driving metric", "now",
           "warning / critical", "predicted breach", "incident within 8 h", "level"]
ROWS = 50


def reason(row: dict[str, Any]) -> tuple[str, str, str]:
    """The driving metric, its current value and its profile's thresholds, as text."""
    metric = row["risk_metric"]
    if not metric:
        return "", "", ""
    limits = thresholds_for(row["profile"]).get(metric)
    bounds = f"{number(limits.warning)} / {number(limits.critical)}" if limits else ""
    return metric, number(row["risk_value"]), bounds


def top_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Fleet rows (``FleetState.fleet()``), ranked, as table cells."""
    return [
        (i + 1, row["server_id"], row["profile"], severity_text(row),
         round(row["risk_score"], 1), *reason(row), breach_text(row),
         format_probability(row["p_8h"]), level_of(row))
        for i, row in enumerate(rows)
    ]


def top_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(top_rows(rows), columns=COLUMNS)


class TopServersView(Redraw):
    title = "Top servers"

    def __init__(self, context: Context) -> None:
        self.models = context.models
        self.table = table(COLUMNS, page_size=25)
        self.layout = pn.Column(
            pn.pane.Markdown(
                f"The {ROWS} servers with the highest risk. **Driving metric** is the one that "
                "sets the risk; **now** is its latest value against the profile's warning and "
                "critical thresholds; **predicted breach** is when the median forecast crosses "
                "critical."
            ),
            self.table,
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        self.table.show_frame(self.models.latest().ranking)
