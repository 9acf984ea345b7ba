"""Server-side SVG charts for the dashboard: horizontal bars and line charts, drawn in Python.

Why not a JavaScript chart library: the pages' figures are small and fixed when the page is
rendered, the CSP allows no inline script or style, and nothing may come from a CDN. An inline
``<svg role="img">`` named by its ``<title>`` and ``<desc>`` renders without script, prints,
and reads out in a screen reader; the page puts the same figures in a table beside each chart.

Every text that reaches the SVG is escaped (``markupsafe.escape``): LF and annotator names are
user text. Colours are presentation attributes (not ``style``), so the CSP's ``style-src 'self'``
holds; series differ by marker shape and dash pattern as well as colour.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
BAR_ROW = 26
LABEL_WIDTH = 190
BAR_WIDTH = 340
TEXT = "#1a1a1a"
GRID = "#8c8c8c"
BAR = "#1b5e9f"
FLAGGED = "#b71c1c"
#: (colour, dash pattern, marker) per series; each colour has at least 3:1 contrast on white.
STYLES = (("#1b5e9f", "", "circle"), ("#b8461b", "6 3", "square"), ("#2e7d32", "2 3", "triangle"),
          ("#6a3d9a", "8 3 2 3", "diamond"))


@dataclass(frozen=True)
class Bar:
    """One bar: ``value`` is a share (0-1) of the bar area, ``text`` the value as written beside
    it; a ``flagged`` bar is drawn in the warning colour and its text should say why."""

    label: str
    value: float
    text: str
    flagged: bool = False


@dataclass(frozen=True)
class Series:
    """A line: ``points`` are (x, y) with y within the chart's y axis, or None where the value is missing."""

    name: str
    points: Sequence[tuple[float, float | None]]


def _svg(chart_id: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    """The ``<svg role="img">`` around ``body``, named by its title and described by its desc."""
    cid = escape(chart_id)
    head = (f'<svg role="img" class="chart" id="{cid}" viewBox="0 0 {WIDTH} {height}" '
            f'aria-labelledby="{cid}-title {cid}-desc" xmlns="http://www.w3.org/2000/svg">'
            f'<title id="{cid}-title">{escape(title)}</title><desc id="{cid}-desc">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 12, fill: str = TEXT) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">'
            f"{escape(text)}</text>")


def bar_chart(chart_id: str, title: str, desc: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one row per ``Bar``: its label left, the bar, its text right."""
    height = BAR_ROW * len(bars) + 10
    body = [f'<line x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height}" stroke="{GRID}"/>']
    for i, bar in enumerate(bars):
        y = 5 + i * BAR_ROW
        width = max(0.0, min(1.0, bar.value)) * BAR_WIDTH
        body.append(_text(LABEL_WIDTH - 6, y + 16, bar.label, "end"))
        body.append(f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_ROW - 8}" '
                    f'fill="{FLAGGED if bar.flagged else BAR}"/>')
        body.append(_text(LABEL_WIDTH + width + 6, y + 16, bar.text, fill=FLAGGED if bar.flagged else TEXT))
    return _svg(chart_id, title, desc, height, body)


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "triangle":
        return f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}" fill="{colour}"/>'
    if kind == "diamond":
        return f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} {x - 5:.1f},{y:.1f}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def _ticks(values: list[float], most: int = 8) -> list[float]:
    """The distinct x values when there are few, else ``most`` evenly spaced ones."""
    distinct = sorted(set(values))
    if len(distinct) <= most:
        return distinct
    low, high = distinct[0], distinct[-1]
    return [low + (high - low) * i / (most - 1) for i in range(most)]


def line_chart(chart_id: str, title: str, desc: str, x_label: str, y_label: str,
               series: Sequence[Series], y_max: float = 1.0) -> Markup:
    """Lines of ``series`` over a shared x axis and a 0-``y_max`` y axis (shares by default,
    counts with ``y_max`` the largest), with a legend on the right."""
    y_max = y_max if y_max > 0 else 1.0
    left, right, top, bottom, height = 52, 160, 14, 44, 300
    xs = [x for s in series for x, y in s.points if y is not None] or [0.0]
    low, high = min(xs), max(xs)
    if low == high:
        low, high = low - 1, high + 1
    plot_w, plot_h = WIDTH - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - low) / (high - low) * plot_w

    def py(y: float) -> float:
        return top + (1 - y / y_max) * plot_h

    body = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        tick = share * y_max
        body.append(f'<line x1="{left}" y1="{py(tick):.1f}" x2="{left + plot_w}" y2="{py(tick):.1f}" '
                    f'stroke="{GRID}" stroke-width="0.5"/>')
        body.append(_text(left - 6, py(tick) + 4, f"{tick:.2f}" if y_max == 1.0 else f"{tick:,.0f}", "end", 11))
    for tick in _ticks(xs):
        body.append(_text(px(tick), top + plot_h + 16, f"{tick:g}", "middle", 11))
    body.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{TEXT}"/>')
    body.append(_text(left + plot_w / 2, height - 6, x_label, "middle"))
    body.append(f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" font-size="12" fill="{TEXT}" '
                f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    for i, s in enumerate(series):
        colour, dash, marker = STYLES[i % len(STYLES)]
        segment: list[str] = []
        segments = [segment]
        for x, y in s.points:
            if y is None:
                segment = []
                segments.append(segment)
                continue
            segment.append(f"{px(x):.1f},{py(y):.1f}")
            body.append(_marker(marker, px(x), py(y), colour))
        for seg in segments:
            if len(seg) > 1:
                body.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" stroke-width="2"'
                            + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        ly = top + 10 + i * 20
        lx = left + plot_w + 14
        body.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" stroke-width="2"'
                    + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        body.append(_marker(marker, lx + 12, ly, colour))
        body.append(_text(lx + 30, ly + 4, s.name, size=11))
    return _svg(chart_id, title, desc, height, body)
