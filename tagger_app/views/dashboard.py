"""The project dashboard (every logged-in account): ``GET /dashboard`` renders it with server-side
SVG charts, ``GET /api/dashboard`` returns the same figures as JSON (``tagger_app.dashboard``)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request
from markupsafe import Markup

from datasets.errors import GoldloopError
from datasets.store import versions
from tagger_app import dashboard
from tagger_app.charts import Bar, Series, bar_chart, line_chart
from tagger_app.inputs import BadRequest, DashboardArgs, parse
from tagger_app.state import tagger, transaction

bp = Blueprint("dashboard", __name__)
MODEL_NAMES = {"end_model": "end model", "label_model": "label model", "majority_vote": "majority vote",
               "best_lf": "best single LF"}


def _figures() -> dict[str, Any]:
    """The dashboard of ``?version=`` (default: the tagger's version, else the newest one)."""
    args = parse(DashboardArgs, request.args)
    state = tagger()
    wanted = args.version or state.version
    with transaction() as conn:
        try:
            version = versions.resolve(conn, wanted) if wanted is not None else versions.latest(conn)
        except GoldloopError as exc:
            raise BadRequest(str(exc), "version") from None
        return dashboard.collect(conn, state.task, version)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def charts(figures: dict[str, Any]) -> dict[str, Markup]:
    """The page's SVG charts, each only when it has something to draw."""
    out: dict[str, Markup] = {}
    lf = figures["lf_analysis"]
    if lf and lf["lfs"]:
        out["lf_coverage"] = bar_chart(
            "chart-lf-coverage", "Coverage of each labeling function",
            "Share of LF and train posts each LF votes on; LFs whose golden precision is below their label's "
            "prior are marked 'hurts'. The LF table lists the same figures.",
            [Bar(row["name"], row.get("coverage") or 0.0,
                 _pct(row.get("coverage")) + (" · hurts" if row.get("hurts") else ""), bool(row.get("hurts")))
             for row in lf["lfs"]])
    for split, comparison in figures["models"].items():
        scored = [row for row in comparison["rows"] if row["macro_f1"] is not None]
        if scored:
            out[f"models_{split}"] = bar_chart(
                f"chart-models-{split}", f"Macro-F1 on golden {split} labels",
                f"Macro-F1 of each model on the golden {split} labels ({comparison['source']}); "
                "the table beside it lists accuracy and the number of labels too.",
                [Bar(MODEL_NAMES.get(row["model"], row["model"]), row["macro_f1"], f"{row['macro_f1']:.3f}")
                 for row in scored])
    curve = figures["learning_curve"]
    if curve:
        out["learning_curve"] = line_chart(
            "chart-learning-curve", "Learning curve of the loop",
            f"Macro-F1 on golden test labels of each model against the golden training labels used, over "
            f"{len(curve)} loop iteration(s); the table below lists every point.",
            "golden training labels", "macro-F1 on golden test",
            [Series(MODEL_NAMES[m], [(p["golden_train"], p[m]) for p in curve]) for m in dashboard.MODELS
             if any(p[m] is not None for p in curve)])
    golden = figures["golden"]["splits"]
    if golden:
        out["golden"] = bar_chart(
            "chart-golden", "Golden labels per split",
            "Share of each split's posts that have a golden label; the table below lists the counts.",
            [Bar(row["split"], row["share"], f"{row['golden']} of {row['posts']} ({_pct(row['share'])})")
             for row in golden])
    return out


@bp.get("/dashboard")
def dashboard_page():
    """LF analysis, model comparison, run history, learning curve, golden-label progress."""
    figures = _figures()
    return render_template("dashboard.html", d=figures, charts=charts(figures), model_names=MODEL_NAMES,
                           splits=versions.SPLITS)


@bp.get("/api/dashboard")
def dashboard_api():
    """The dashboard's figures as JSON (docs/openapi.yaml, ``Dashboard``)."""
    return jsonify(_figures())
