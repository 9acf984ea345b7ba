"""The live dashboard (every logged-in account): ``GET /live`` renders the page, ``GET /live/panel``
only its changing part (what ``static/live.js`` fetches every few seconds to swap in, so the
charts stay server-side SVG with their text alternatives), ``GET /api/live`` the same figures
as JSON (``tagger_app.live``)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from markupsafe import Markup

from tagger_app import live
from tagger_app.charts import Bar, Series, bar_chart, line_chart
from tagger_app.inputs import LiveArgs, parse
from tagger_app.state import tagger, transaction

bp = Blueprint("live", __name__)
POLL_MS = 2000
UNITS = {"minute": "minutes", "hour": "hours", "day": "days"}


def _figures() -> tuple[LiveArgs, dict[str, Any]]:
    args = parse(LiveArgs, request.args)
    with transaction() as conn:
        return args, live.collect(conn, tagger().task, args.bucket, args.window)


def charts(figures: dict[str, Any]) -> dict[str, Markup]:
    """The posts-over-time line chart and the live label-shares bar chart, each with a
    description that states its figures (the tables beside them list every value)."""
    labels, points, bucket = figures["labels"], figures["series"], figures["bucket"]
    totals = {label: sum(p["counts"][label] for p in points) for label in labels}
    total = sum(totals.values())
    span = len(points)
    said = ", ".join(f"{label} {n:,}" for label, n in totals.items())
    out = {"over_time": line_chart(
        "chart-live-over-time", f"Posts classified per {bucket}, last {span} {UNITS[bucket]}",
        f"Posts the production model classified per {bucket} and label over the last {span} {UNITS[bucket]} "
        f"(UTC, newest at 0): {total:,} in all ({said}). The table below lists every {bucket}.",
        f"{UNITS[bucket]} ago", "posts",
        [Series(label, [(i - span + 1, p["counts"][label]) for i, p in enumerate(points)]) for label in labels],
        y_max=max([max(p["counts"].values(), default=0) for p in points] + [1]))}
    if total:
        out["shares"] = bar_chart(
            "chart-live-shares", f"Predicted labels, last {span} {UNITS[bucket]}",
            f"Share of each predicted label among the {total:,} posts of the chart: "
            + ", ".join(f"{label} {100 * n / total:.1f}%" for label, n in totals.items()) + ".",
            [Bar(label, n / total, f"{n:,} ({100 * n / total:.1f}%)") for label, n in totals.items()])
    return out


def _render(template: str) -> str:
    args, figures = _figures()
    return render_template(template, d=figures, charts=charts(figures), args=args, poll_ms=POLL_MS,
                           buckets=live.SPANS, windows=live.WINDOWS)


@bp.get("/live")
def live_page():
    """The live dashboard: posts over time, newest posts, top links, production model, monitoring."""
    return _render("live.html")


@bp.get("/live/panel")
def live_panel():
    """The changing part of ``/live`` alone, for the page's script to swap in."""
    return _render("live_panel.html")


@bp.get("/api/live")
def live_api():
    """The live dashboard's figures as JSON (docs/openapi.yaml, ``Live``)."""
    return jsonify(_figures()[1])
