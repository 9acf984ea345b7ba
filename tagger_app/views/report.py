"""Admins only: the agreement report, conflict resolution and golden-label overrides.

A resolution applies to an item in conflict. Changing a golden label that is not in conflict is an
override and needs a reason; both append a ``resolve`` row to the history, and either can be undone
(an ``undo`` row), so nothing an admin does is lost.
"""
from __future__ import annotations

import math

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from datasets.store import golden, reports
from datasets.store import labels as label_store
from tagger_app.inputs import BadRequest, Conflict, PageArgs, Resolution, ResolutionUndo, parse
from tagger_app.security import require_admin
from tagger_app.state import tagger, transaction

bp = Blueprint("report", __name__)
bp.before_request(require_admin)
CONFLICTS_PER_PAGE = 50
RECENT_RESOLUTIONS = 20


@bp.get("/report")
def report_page():
    """Per-annotator counts and speed, pairwise Cohen's kappa, golden-label counts."""
    state = tagger()
    with transaction() as conn:
        people = reports.annotator_stats(conn, state.task.name)
        kappas = reports.pairwise_kappa(conn, state.task.name, state.task.labels)
        counts = reports.golden_counts(conn, state.task.name)
    return render_template("report.html", people=people, kappas=kappas, counts=counts)


@bp.get("/conflicts")
def conflicts_page():
    """Items whose annotators disagree (a button per label resolves one), the latest resolutions
    and overrides (each can be undone), and the override form."""
    page = parse(PageArgs, request.args).page
    with transaction() as conn:
        total, rows = reports.conflicts(conn, tagger().task.name, CONFLICTS_PER_PAGE, (page - 1) * CONFLICTS_PER_PAGE)
        recent = reports.resolutions(conn, tagger().task.name, RECENT_RESOLUTIONS)
    return render_template("conflicts.html", rows=rows, total=total, page=page, recent=recent,
                           pages=max(1, math.ceil(total / CONFLICTS_PER_PAGE)))


@bp.post("/conflicts/resolve")
def resolve():
    """Record a resolution (an item in conflict) or an override (with ``override`` and a ``reason``)."""
    state = tagger()
    resolution = parse(Resolution, request.form)
    if resolution.label not in state.task.labels:
        raise BadRequest(f"label: unknown label {resolution.label!r}", "label")
    reason = resolution.reason.strip()
    with transaction() as conn:
        current = golden.state_of(conn, state.task.name, resolution.post_id)
        in_conflict = current is not None and current.conflict
        if not in_conflict and not (resolution.override and reason):
            raise Conflict(f"post {resolution.post_id} is not in conflict; to change its golden label, override it"
                           " with a reason", "post_id")
        row = label_store.append(
            conn, task=state.task.name, post_id=resolution.post_id, action="resolve", label=resolution.label,
            annotator=current_user.name, source="resolve",
            meta={"view": "conflicts", "override": not in_conflict, "reason": reason or None,
                  "previous": current.label if current else None})
        if row is None:
            raise BadRequest(f"post_id: unknown post {resolution.post_id!r}", "post_id")
    flash(f"{'Overrode' if not in_conflict else 'Resolved'} {resolution.post_id} as {resolution.label}.")
    return redirect(url_for("report.conflicts_page"))


@bp.post("/conflicts/undo")
def undo_resolution():
    """Withdraw a resolution or override; the golden label goes back to what it was without it."""
    target = parse(ResolutionUndo, request.form)
    with transaction() as conn:
        undone = label_store.undo_resolution(conn, tagger().task.name, current_user.name, target.resolution_id)
    if undone is None:
        raise Conflict(f"resolution {target.resolution_id} does not exist or was already undone", "resolution_id")
    flash(f"Undid the resolution of {undone['post_id']} as {undone['label']}.")
    return redirect(url_for("report.conflicts_page"))
