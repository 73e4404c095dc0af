"""Heatmap: every server as a tile coloured by severity, grouped by profile; a click opens it."""

from __future__ import annotations

from typing import Any

import panel as pn
import param
from panel.custom import JSComponent

from ui.theme import SEVERITY_SWATCHES, swatch
from ui.views.common import Context, Redraw, html_pane, label, level_of, number

_ESM = """
export function render({ model, el }) {
  const root = document.createElement('div');
  root.className = 'fc-groups';
  const draw = () => {
    const groups = new Map();
    for (const t of model.tiles) {
      if (!groups.has(t.profile)) groups.set(t.profile, []);
      groups.get(t.profile).push(t);
    }
    const parts = [];
    for (const [profile, tiles] of groups) {
      parts.push(`<section><h4>${profile.replace('_', ' ')} <small>(${tiles.length})</small></h4>` +
                 '<div class="fc-tiles">');
      for (const t of tiles) {
        const bar = t.progress === null ? '' :
          `<div class="bar"><div style="width:${Math.round(t.progress * 100)}%"></div></div>`;
        parts.push(`<div class="fc-tile" data-server="${t.id}" data-severity="${t.level}" ` +
                   `title="${t.tip}" style="background:${t.bg};color:${t.fg}">` +
                   `<b>${t.id}</b><span>${t.text}</span>${bar}</div>`);
      }
      parts.push('</div></section>');
    }
    root.innerHTML = parts.join('');
  };
  draw();
  model.on('tiles', draw);
  root.addEventListener('click', (event) => {
    const tile = event.target.closest('[data-server]');
    if (tile) model.send_msg({server: tile.dataset.server});
  });
  el.appendChild(root);
}
"""

_TILE_CSS = """
.fc-groups section { margin-bottom: 10px; }
.fc-groups h4 { margin: 4px 0; font: 600 14px sans-serif; text-transform: capitalize; }
.fc-tiles { display: flex; flex-wrap: wrap; gap: 4px; }
.fc-tile { width: 84px; height: 42px; border-radius: 4px; padding: 3px 5px; cursor: pointer;
           font: 11px sans-serif; box-sizing: border-box; display: flex; flex-direction: column;
           justify-content: space-between; }
.fc-tile:hover { outline: 2px solid #000; }
.fc-tile b { font-size: 11px; }
.fc-tile .bar { height: 4px; background: rgba(255,255,255,.5); }
.fc-tile .bar div { height: 4px; background: #fff; }
"""


class TileGrid(JSComponent):
    """Server tiles in the browser; ``on_select`` hears the server a click picked."""

    tiles = param.List(default=[], doc="One dict per tile: id, profile, level, text, tip, ...")

    _esm = _ESM
    _stylesheets = [_TILE_CSS]

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.selected: list[str] = []
        self.on_select: Any = None

    def _handle_msg(self, msg: Any) -> None:
        server = str(msg.get("server", ""))
        self.selected.append(server)
        if self.on_select is not None:
            self.on_select(server)


def tile(row: dict[str, Any]) -> dict[str, Any]:
    """A fleet row as a tile: colour, one line of text and a hover text."""
    level = level_of(row)
    colours = swatch(level)
    warming = row["status"] == "warming_up"
    progress = min(1.0, row["context_steps"] / max(1, row["min_context_steps"]))
    text = f"warming {progress:.0%}" if warming else f"risk {row['risk_score']:.0f}"
    tip = f"{row['server_id']}: {label(level)}"
    if not warming and row["risk_metric"]:
        tip += f", {row['risk_metric']} {number(row['risk_value'])}"
    return {
        "id": row["server_id"], "profile": row["profile"], "level": level, "text": text,
        "tip": tip, "bg": colours.strong, "fg": colours.text,
        "progress": progress if warming else None,
    }


def tiles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tiles grouped by profile, servers in name order within a group."""
    return [tile(row) for row in sorted(rows, key=lambda r: (r["profile"], r["server_id"]))]


def legend_html() -> str:
    items = [
        f'<span class="fc-badge" style="background:{s.strong};color:{s.text}">{label(level)}</span>'
        for level, s in SEVERITY_SWATCHES.items()
    ]
    items.append(
        f'<span class="fc-badge" style="background:{swatch("warming_up").strong};color:#fff">'
        "warming up (bar: history so far)</span>"
    )
    return (f'<div class="fc-bar">{"".join(items)}<span class="fc-note">Click a tile for its '
            "forecast.</span></div>")


class HeatmapView(Redraw):
    title = "Heatmap"

    def __init__(self, context: Context) -> None:
        self.models = context.models
        self.grid = TileGrid(sizing_mode="stretch_width")
        self.grid.on_select = context.show_server
        self.layout = pn.Column(html_pane(object=legend_html()), self.grid,
                                sizing_mode="stretch_width")

    def refresh(self) -> None:
        shared = self.models.latest().tiles
        if shared is not self.grid.tiles:  # comparing 1,000 tiles would cost what it saves
            self.grid.tiles = shared
