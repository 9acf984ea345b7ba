"""Several annotators: the agreement report and conflict resolution."""
from __future__ import annotations

import math

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tagger_app.state import autocommit, tagger
from tagger_app.store import labels as label_store
from tagger_app.store import reports

bp = Blueprint("report", __name__)
CONFLICTS_PER_PAGE = 50


@bp.get("/report")
def report_page():
    """Per-annotator counts and speed, pairwise Cohen's kappa, golden-label counts."""
    state = tagger()
    with autocommit() as conn:
        people = reports.annotator_stats(conn, state.task.name)
        kappas = reports.pairwise_kappa(conn, state.task.name, state.task.labels)
        counts = reports.golden_counts(conn, state.task.name)
    return render_template("report.html", people=people, kappas=kappas, counts=counts)


@bp.get("/conflicts")
def conflicts_page():
    """Items whose annotators disagree, each with a button per label to resolve it."""
    page = int(request.args["page"]) if request.args.get("page", "").isdigit() else 1
    with autocommit() as conn:
        total, rows = reports.conflicts(conn, tagger().task.name, CONFLICTS_PER_PAGE, (page - 1) * CONFLICTS_PER_PAGE)
    return render_template("conflicts.html", rows=rows, total=total, page=page,
                           pages=max(1, math.ceil(total / CONFLICTS_PER_PAGE)))


@bp.post("/conflicts/resolve")
def resolve():
    """Record the resolution (action 'resolve'), which becomes the golden label."""
    state = tagger()
    post_id, label = request.form.get("post_id", ""), request.form.get("label")
    if label not in state.task.labels:
        abort(400, description=f"unknown label {label!r}")
    with autocommit() as conn:
        row = label_store.append(conn, task=state.task.name, post_id=post_id, action="resolve", label=label,
                                 annotator=current_user.name, source="resolve", meta={"view": "conflicts"})
    if row is None:
        abort(400, description=f"unknown post {post_id!r}")
    flash(f"Resolved {post_id} as {label}.")
    return redirect(url_for("report.conflicts_page"))
