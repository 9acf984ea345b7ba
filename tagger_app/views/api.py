"""JSON API under /api (session login and X-CSRFToken header required); see docs/api.md and
docs/openapi.yaml. Every error is a JSON object with ``error`` (and ``field`` when one is to blame)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from datasets.errors import GoldloopError
from datasets.store import golden, reports, versions
from tagger_app import golden_export, service
from tagger_app.inputs import Answer, BadRequest, ExportArgs, NextArgs, UndoRequest, parse
from tagger_app.security import require_admin
from tagger_app.state import tagger, transaction

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/me")
def me():
    """The logged-in annotator, their role, the task, and the CSRF token to send in X-CSRFToken."""
    state = tagger()
    with transaction() as conn:
        version = state.current_version(conn)
    return jsonify(annotator=current_user.name, admin=current_user.is_admin, task=state.task.name,
                   labels=state.task.labels, positive=state.task.positive, version=version, csrf_token=generate_csrf())


@bp.get("/next")
def next_items():
    """Next items of a queue: ?queue=&split=&source=&n=&exclude=id,id&hints=1&progress=1."""
    args = parse(NextArgs, request.args)
    with transaction() as conn:
        return jsonify(service.next_items(conn, tagger(), current_user.name, args))


@bp.post("/submit")
def submit():
    """Record an answer; the response comes only after the label is committed."""
    answer = parse(Answer, request.get_json(silent=True))
    with transaction() as conn:
        row = service.submit(conn, tagger(), current_user.name, answer)
    return jsonify(ok=True, **row), 201


@bp.post("/undo")
def undo():
    """Withdraw the annotator's latest label or skip (or the latest on ``post_id``)."""
    body = request.get_json(silent=True) or {}
    undo_request = parse(UndoRequest, {**request.args, **body} if isinstance(body, dict) else body)
    with transaction() as conn:
        result = service.undo(conn, tagger(), current_user.name, undo_request.post_id, hints=undo_request.hints)
    if result is None:
        return jsonify(error="nothing to undo"), 404
    return jsonify(ok=True, **result)


@bp.get("/stats")
def stats():
    """The annotator's own figures and the task's golden-label counts."""
    state = tagger()
    with transaction() as conn:
        mine = reports.annotator_stats(conn, state.task.name, current_user.name)
        counts = reports.golden_counts(conn, state.task.name)
        version = state.current_version(conn)
    return jsonify(annotator=current_user.name, task=state.task.name, version=version,
                   mine=mine[0] if mine else None, golden=counts)


@bp.get("/export")
def export_golden():
    """Golden rows of a version (admins): ?split=&version=&format=json|jsonl|csv&conflicts=1."""
    require_admin()
    state = tagger()
    args = parse(ExportArgs, request.args)
    with transaction() as conn:
        try:
            version = versions.resolve(conn, args.version or state.version)
        except GoldloopError as exc:
            raise BadRequest(str(exc), "version") from None
        rows = golden.rows(conn, state.task.name, version, args.split, include_conflicts=args.conflicts)
    if args.format == "json":
        return jsonify(task=state.task.name, version=version, split=args.split, rows=rows)
    name = f"{state.task.name}-v{version}-{args.split or 'all'}.{args.format}"
    return Response(golden_export.serialize(rows, args.format),
                    mimetype="text/csv" if args.format == "csv" else "application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
