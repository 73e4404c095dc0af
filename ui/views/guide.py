"""Guide: how the risk score and the severity levels come about, in plain words."""

from __future__ import annotations

import panel as pn

from schemas.severity import SEVERITIES
from ui.views.common import Context, Redraw, badge, label

_RANGES = {"imminent_failure": "90-100", "critical": "80-89", "danger": "70-79",
           "warning": "60-69", "degrading": "50-59", "watch": "30-49", "healthy": "0-29"}
_MEANING = {
    "healthy": "every metric comfortably below its levels, and the forecast stays there",
    "watch": "a metric is approaching its warning level, or the pessimistic forecast touches it",
    "degrading": "the pessimistic forecast (p90) reaches a critical level within 8 h",
    "warning": "a metric is at its warning level, or the median forecast reaches it: an alert "
               "fires",
    "danger": "the median forecast reaches a critical level within 8 h: plan a fix",
    "critical": "a metric is past its critical level, or will be within about 2 h: act now",
    "imminent_failure": "the median forecast crosses critical within 30 minutes, or a metric is "
                        "far past it",
}

GUIDE = """
### What the dashboard shows

Every server sends its metrics (CPU, memory, disk, network, latency, errors) about once a
simulated minute. Every 5 minutes the pipeline takes the server's **last 24 hours** and a
forecasting model (a Temporal Fusion Transformer) predicts the **next 8 hours** of each metric
as a range: the **median** (p50, the most likely path) and a **band** from p10 (optimistic) to
p90 (pessimistic).

### The risk score (0-100)

Each server profile has its own **warning** and **critical** level per metric: a database at
98% memory is normal (its cache fills memory), an ML node at 98% CPU is not. Per metric two
readings are scored and the higher one counts:

* **now**, where the latest value sits: below the watch level 0-29, approaching warning 30-59,
  between warning and critical 60-79, past critical 80-100;
* **ahead**, when the forecast crosses a level: the median reaching *critical* scores 90 within
  30 minutes, falling to 70 at 8 hours; the median reaching only *warning* 60-69; the
  pessimistic p90 reaching *critical* 50-59, reaching *warning* 30-49. Sooner scores higher.

The server's risk is its **worst metric's** score, and that metric is named as the *driving
metric*.

### Chance of an incident

An incident is a metric crossing its critical level. From the p10/p50/p90 band the dashboard
estimates, for every forecast step, the chance of being above critical, and takes the highest
step within 30 minutes (or 8 hours) and the worst metric. The fleet's chance is
1 - (1 - p1) x (1 - p2) x ... over servers, as if they failed independently.

### Alerts

An alert **fires** when a server rises to *warning* or above, fires again when its severity
changes while open, and is **resolved** when the server falls back below *warning*.

### Warming up

The model needs at least 3 hours of history (36 five-minute steps). Until then a server is
shown as **warming up** with its progress, and its risk comes from current values only.
"""


def levels_html() -> str:
    rows = "".join(
        f"<tr><td>{badge(label(level), level)}</td><td>{_RANGES[level]}</td>"
        f"<td>{_MEANING[level]}</td></tr>"
        for level in reversed(SEVERITIES)
    )
    return ("<table style='border-collapse:collapse' cellpadding='4'><tr><th>severity</th>"
            f"<th>risk</th><th>what it means</th></tr>{rows}</table>")


class GuideView(Redraw):
    title = "Guide"

    def __init__(self, context: Context) -> None:
        self.layout = pn.Column(
            pn.pane.Markdown(GUIDE, sizing_mode="stretch_width"),
            "### The severity levels",
            pn.pane.HTML(levels_html(), stylesheets=[".fc-badge{border-radius:12px;"
                                                    "padding:3px 10px;font-weight:600}"]),
            sizing_mode="stretch_width",
        )

    def refresh(self) -> None:
        """Static text."""
