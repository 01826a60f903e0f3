"""Charts as inline SVG (line charts, horizontal bar charts, histograms), drawn here so that the page
needs no script, no network and no plotting library to be read, and stays small and sharp at any zoom."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from report.html import esc

PALETTE = ("#2f5d9e", "#e07b39", "#3a9e5f", "#c0392b", "#8e6cbf", "#8c6d31", "#d45fa0", "#7f7f7f", "#17becf", "#bcbd22")
MAX_POINTS = 1500
"""A longer series is thinned to the lowest and highest point of each of MAX_POINTS / 2 buckets, so
that a long run's spikes still show while the page stays small."""


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round values (1, 2, 2.5 or 5 times a power of ten apart) covering [lo, hi]."""
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def tick_label(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    if 0 < a < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4g}"


@dataclass
class _Plot:
    """The mapping from data to pixels of one plot area."""

    x0: float
    x1: float
    y0: float
    y1: float
    left: float
    top: float
    width: float
    height: float

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * self.width

    def y(self, v: float) -> float:
        return self.top + self.height - (v - self.y0) / (self.y1 - self.y0) * self.height


def _padded(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    if hi <= lo:
        return lo - 0.5 if lo == 0 else lo - abs(lo) * 0.1, hi + 0.5 if hi == 0 else hi + abs(hi) * 0.1
    span = hi - lo
    return lo - pad * span, hi + pad * span


def _svg(width: float, height: float, title: str, parts: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img"><title>{esc(title)}</title>'
            f'<text class="title" x="{width / 2:.0f}" y="16" text-anchor="middle">{esc(title)}</text>{"".join(parts)}</svg>')


def _legend(names: Sequence[str], right: float, y: float) -> list[str]:
    """Colour keys, right-aligned, on one line."""
    parts, x = [], right
    for i, name in reversed(list(enumerate(names))):
        x -= 7 * len(name) + 22
        parts.append(f'<rect x="{x:.1f}" y="{y - 8:.1f}" width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{x + 14:.1f}" y="{y + 1:.1f}">{esc(name)}</text>')
    return parts


def _y_axis(p: _Plot, label: str, whole: bool = False) -> list[str]:
    """Grid lines and tick labels; ``whole``: only at whole numbers (counts)."""
    parts = []
    for t in ticks(p.y0, p.y1):
        if whole and t != int(t):
            continue
        y = p.y(t)
        parts.append(f'<line class="grid" x1="{p.left:.1f}" x2="{p.left + p.width:.1f}" y1="{y:.1f}" y2="{y:.1f}"/>'
                     f'<text x="{p.left - 4:.1f}" y="{y + 4:.1f}" text-anchor="end">{tick_label(t)}</text>')
    if label:
        cy = p.top + p.height / 2
        parts.append(f'<text x="12" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 12 {cy:.1f})">{esc(label)}</text>')
    return parts


def _x_axis(p: _Plot, label: str) -> list[str]:
    base = p.top + p.height
    parts = [f'<line class="axis" x1="{p.left:.1f}" x2="{p.left + p.width:.1f}" y1="{base:.1f}" y2="{base:.1f}"/>']
    for t in ticks(p.x0, p.x1):
        x = p.x(t)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{base:.1f}" y2="{base + 4:.1f}"/>'
                     f'<text x="{x:.1f}" y="{base + 16:.1f}" text-anchor="middle">{tick_label(t)}</text>')
    parts.append(f'<text x="{p.left + p.width / 2:.1f}" y="{base + 32:.1f}" text-anchor="middle">{esc(label)}</text>')
    return parts


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return points
    buckets = np.array_split(np.arange(len(points)), MAX_POINTS // 2)
    kept = []
    for idx in buckets:
        ys = [points[i][1] for i in idx]
        lo, hi = idx[int(np.argmin(ys))], idx[int(np.argmax(ys))]
        kept += [points[i] for i in sorted({lo, hi})]
    return kept


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str, y_label: str = "",
               events: Sequence[tuple[float, str]] = (), width: int = 560, height: int = 280) -> str:
    """Lines through (x, y) points, one colour per series; ``events`` are dotted vertical lines with a label
    (growth steps). Points that are not finite numbers are left out."""
    clean = {name: _thin(sorted((x, y) for x, y in pts if y is not None and math.isfinite(y))) for name, pts in series.items()}
    xs = [x for pts in clean.values() for x, _ in pts] + [x for x, _ in events]
    ys = [y for pts in clean.values() for _, y in pts]
    if not ys:
        return ""
    top = 28 + (16 if len(clean) > 1 else 0)
    p = _Plot(*_padded(min(xs), max(xs), 0.0), *_padded(min(ys), max(ys)), left=62, top=top, width=width - 80, height=height - top - 46)
    parts = _y_axis(p, y_label) + _x_axis(p, x_label)
    for x, label in events:
        px = p.x(x)
        parts.append(f'<line class="event" x1="{px:.1f}" x2="{px:.1f}" y1="{p.top:.1f}" y2="{p.top + p.height:.1f}"/>'
                     f'<text class="event-label" x="{px + 3:.1f}" y="{p.top + 10:.1f}">{esc(label)}</text>')
    for i, pts in enumerate(clean.values()):
        colour = PALETTE[i % len(PALETTE)]
        if len(pts) == 1:
            parts.append(f'<circle cx="{p.x(pts[0][0]):.1f}" cy="{p.y(pts[0][1]):.1f}" r="3" fill="{colour}"/>')
        else:
            coords = " ".join(f"{p.x(x):.1f},{p.y(y):.1f}" for x, y in pts)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{coords}"/>')
    if len(clean) > 1:
        parts += _legend(list(clean), width - 8, 34)
    return _svg(width, height, title, parts)


def bar_chart(categories: Sequence[str], series: dict[str, Sequence[float]], *, title: str, x_label: str,
              value_format: Callable[[float], str] = lambda v: f"{v:,.0f}", width: int = 640) -> str:
    """Horizontal bars, one group per category and one bar per series in it, each with its value."""
    n = len(series)
    bar, gap = 12, 8
    label_width = min(220, 7 * max((len(c) for c in categories), default=4) + 12)
    top = 28 + (16 if n > 1 else 0)
    height = top + len(categories) * (n * bar + gap) + 44
    hi = max((v for values in series.values() for v in values), default=0) or 1
    p = _Plot(0, hi, 0, 1, left=label_width, top=top, width=width - label_width - 70, height=height - top - 44)
    parts = _x_axis(p, x_label)
    for t in ticks(0, hi):
        parts.append(f'<line class="grid" x1="{p.x(t):.1f}" x2="{p.x(t):.1f}" y1="{top:.1f}" y2="{p.top + p.height:.1f}"/>')
    for c, category in enumerate(categories):
        y0 = top + c * (n * bar + gap) + gap / 2
        parts.append(f'<text x="{label_width - 6}" y="{y0 + n * bar / 2 + 4:.1f}" text-anchor="end">{esc(category)}</text>')
        for s, values in enumerate(series.values()):
            y, v = y0 + s * bar, values[c]
            parts.append(f'<rect x="{p.left:.1f}" y="{y:.1f}" width="{max(p.x(v) - p.left, 0):.1f}" height="{bar - 2}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{esc(category)}: {esc(value_format(v))}</title></rect>'
                         f'<text class="value" x="{p.x(v) + 3:.1f}" y="{y + bar - 3:.1f}">{esc(value_format(v))}</text>')
    if n > 1:
        parts += _legend(list(series), width - 8, 36)
    return _svg(width, height, title, parts)


def histogram(series: dict[str, Sequence[float]], *, title: str, x_label: str, bins: int = 30,
              markers: Sequence[tuple[float, str]] = (), width: int = 560, height: int = 260) -> str:
    """Counts of values in equal bins, the series stacked; ``markers`` are dashed vertical lines with a
    label (thresholds)."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return ""
    lo, hi = min(values + [x for x, _ in markers]), max(values + [x for x, _ in markers])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = [np.histogram(np.asarray(vs, dtype=float), bins=edges)[0] for vs in series.values()]
    top_count = max(int(np.sum(counts, axis=0).max()), 1)
    top = 28 + (16 if len(series) > 1 else 0)
    p = _Plot(lo, hi, 0, top_count * 1.08, left=56, top=top, width=width - 72, height=height - top - 46)
    parts = _y_axis(p, "documents", whole=True) + _x_axis(p, x_label)
    below = np.zeros(bins)
    for s, c in enumerate(counts):
        for b in np.nonzero(c)[0]:
            x, w = p.x(edges[b]), p.x(edges[b + 1]) - p.x(edges[b])
            y_top, y_bottom = p.y(below[b] + c[b]), p.y(below[b])
            parts.append(f'<rect x="{x + 0.5:.1f}" y="{y_top:.1f}" width="{max(w - 1, 0.5):.1f}" height="{y_bottom - y_top:.1f}" '
                         f'fill="{PALETTE[s % len(PALETTE)]}"><title>{edges[b]:.4g} to {edges[b + 1]:.4g}: {c[b]}</title></rect>')
        below += c
    for x, label in markers:
        px = p.x(x)
        parts.append(f'<line class="marker" x1="{px:.1f}" x2="{px:.1f}" y1="{p.top:.1f}" y2="{p.top + p.height:.1f}"/>'
                     f'<text class="marker-label" x="{px + 3:.1f}" y="{p.top + 10:.1f}">{esc(label)}</text>')
    if len(series) > 1:
        parts += _legend(list(series), width - 8, 36)
    return _svg(width, height, title, parts)
