"""The page: every section in order under a table of contents, with the style inline, so that the one
HTML file can be mailed, archived or opened from disk with nothing else at hand."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from types import ModuleType

from report import counts, dedup, funnel, mixture, quality, shards, tokenizer, training
from report.html import esc
from report.layout import Run

log = logging.getLogger("report")

SECTIONS: tuple[ModuleType, ...] = (funnel, counts, quality, dedup, mixture, tokenizer, shards, training)
"""Each module has a TITLE and ``body(run)``, the section's HTML or a "not in this run" note."""

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: #1d2330; margin: 0; background: #f6f7f9; }
header { background: #1f3b66; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; opacity: 0.85; }
nav { padding: 8px 32px; background: #e8ecf3; position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; gap: 4px 18px; }
nav a { color: #1f3b66; text-decoration: none; white-space: nowrap; }
main { padding: 8px 32px 40px; max-width: 1500px; }
section { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 4px 20px 16px; margin: 18px 0; }
h2 { font-size: 19px; border-bottom: 2px solid #2f5d9e; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 20px 0 6px; }
h4 { font-size: 14px; margin: 12px 0 4px; }
table { border-collapse: collapse; margin: 8px 16px 12px 0; font-size: 13px; display: inline-table; vertical-align: top; }
th, td { border: 1px solid #dde2ea; padding: 3px 8px; text-align: left; }
th { background: #eef1f6; }
tbody tr:nth-child(even) { background: #f8f9fb; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #5b6475; font-size: 12.5px; }
.missing { color: #8a5a00; background: #fff6e0; border-left: 4px solid #e0a800; padding: 6px 10px; }
.error { color: #8a1c1c; background: #fdeaea; border-left: 4px solid #c0392b; padding: 6px 10px; white-space: pre-wrap; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0; }
svg.chart { background: #fff; border: 1px solid #e3e7ee; border-radius: 4px; margin: 6px 12px 6px 0; }
svg.chart text { font: 11px sans-serif; fill: #333; }
svg.chart text.title { font-size: 13px; font-weight: bold; }
svg.chart text.value { font-size: 10px; fill: #555; }
svg.chart .grid { stroke: #e6e9ef; }
svg.chart .axis { stroke: #888; }
svg.chart .event { stroke: #7b3fa0; stroke-dasharray: 2 3; stroke-width: 1.5; }
svg.chart text.event-label { fill: #7b3fa0; font-size: 10px; }
svg.chart .marker { stroke: #c0392b; stroke-dasharray: 5 3; stroke-width: 1.5; }
svg.chart text.marker-label { fill: #c0392b; font-size: 10px; }
.reason h4 .count { background: #eef1f6; border-radius: 8px; padding: 0 7px; font-weight: normal; }
.examples { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 8px; }
.reject { border: 1px solid #e3e7ee; border-radius: 4px; padding: 6px 8px; background: #fbfbfc; }
.reject .meta { font-size: 11.5px; color: #5b6475; overflow-wrap: anywhere; margin-bottom: 4px; }
.reject .excerpt { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap; overflow-wrap: anywhere;
  max-height: 12em; overflow-y: auto; }
details { margin: 8px 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f3f5f8; padding: 8px 10px; font-size: 12px; overflow-x: auto; }
ul.warnings li { color: #8a5a00; }
"""


def section_html(number: int, module: ModuleType, run: Run) -> tuple[str, bool]:
    """The section and whether it was drawn: one that fails shows its error here, the others still draw."""
    anchor = module.__name__.rsplit(".", 1)[-1]
    try:
        body, ok = module.body(run), True
    except Exception as exc:  # a malformed input must not cost the other sections
        log.exception("section %s", module.TITLE)
        body, ok = f'<p class="error">This section could not be drawn: {esc(type(exc).__name__)}: {esc(exc)}</p>', False
    return f'<section id="{anchor}"><h2>{number}. {esc(module.TITLE)}</h2>{body}</section>', ok


def render(run: Run) -> tuple[str, bool]:
    """The whole page, and whether every section was drawn."""
    drawn = [section_html(i, m, run) for i, m in enumerate(SECTIONS, start=1)]
    nav = "".join(f'<a href="#{m.__name__.rsplit(".", 1)[-1]}">{i}. {esc(m.TITLE)}</a>' for i, m in enumerate(SECTIONS, start=1))
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = ", ".join(str(d) for d in run.train_runs) or "none"
    page = ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Run report: {esc(run.root)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>Run report: {esc(run.root)}</h1><p>Generated {when} by python -m report; training runs: {esc(runs)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(html for html, _ in drawn)}</main></body></html>\n")
    return page, all(ok for _, ok in drawn)
