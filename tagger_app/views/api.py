"""JSON API under /api (session login and X-CSRFToken header required); see docs/api.md."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from tagger_app import export, service
from tagger_app.state import autocommit, tagger, transaction
from tagger_app.store import golden, reports

bp = Blueprint("api", __name__, url_prefix="/api")


def _flag(name: str, default: bool = False) -> bool:
    value = request.args.get(name)
    return default if value is None else value.lower() in ("1", "true", "yes", "on")


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise service.BadRequest("send a JSON object with Content-Type: application/json")
    return body


@bp.errorhandler(service.BadRequest)
def _bad_request(exc: service.BadRequest):
    return jsonify(error=str(exc)), 400


@bp.get("/me")
def me():
    """The logged-in annotator, the task, and the CSRF token to send in X-CSRFToken."""
    state = tagger()
    with autocommit() as conn:
        version = state.current_version(conn)
    return jsonify(annotator=current_user.name, task=state.task.name, labels=state.task.labels,
                   positive=state.task.positive, version=version, csrf_token=generate_csrf())


@bp.get("/next")
def next_items():
    """Next items of a queue: ?queue=&split=&source=&n=&exclude=id,id&hints=1&progress=1."""
    exclude = [x for x in request.args.get("exclude", "").split(",") if x][:200]
    try:
        n = int(request.args.get("n", 1))
    except ValueError:
        raise service.BadRequest("'n' must be an integer") from None
    with autocommit() as conn:
        result = service.next_items(conn, tagger(), current_user.name, service.QueueRequest.from_args(request.args),
                                    n, exclude, hints=_flag("hints"), progress=_flag("progress"))
    return jsonify(result)


@bp.post("/submit")
def submit():
    """Record an answer; the response comes only after the label is committed."""
    with autocommit() as conn:
        row = service.submit(conn, tagger(), current_user.name, _body())
    return jsonify(ok=True, **row), 201


@bp.post("/undo")
def undo():
    """Withdraw the annotator's latest label or skip (or the latest on ``post_id``)."""
    body = request.get_json(silent=True) or {}
    with transaction() as conn:
        result = service.undo(conn, tagger(), current_user.name, body.get("post_id"), hints=_flag("hints"))
    tagger().marks.clear()  # after the commit: the withdrawn label may reopen an item behind a queue's mark
    if result is None:
        return jsonify(error="nothing to undo"), 404
    return jsonify(ok=True, **result)


@bp.get("/stats")
def stats():
    """The annotator's own figures and the task's golden-label counts."""
    state = tagger()
    with autocommit() as conn:
        mine = reports.annotator_stats(conn, state.task.name, current_user.name)
        counts = reports.golden_counts(conn, state.task.name)
        version = state.current_version(conn)
    return jsonify(annotator=current_user.name, task=state.task.name, version=version,
                   mine=mine[0] if mine else None, golden=counts)


@bp.get("/export")
def export_golden():
    """Golden rows of a version: ?split=&version=&format=json|jsonl|csv&conflicts=1."""
    state = tagger()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "jsonl", "csv"):
        raise service.BadRequest("'format' must be json, jsonl or csv")
    split = request.args.get("split") or None
    with autocommit() as conn:
        version = int(request.args["version"]) if request.args.get("version", "").isdigit() \
            else state.current_version(conn)
        if version is None:
            raise service.BadRequest("no data-set version yet")
        rows = golden.rows(conn, state.task.name, version, split, include_conflicts=_flag("conflicts"))
    if fmt == "json":
        return jsonify(task=state.task.name, version=version, split=split, rows=rows)
    name = f"{state.task.name}-v{version}-{split or 'all'}.{fmt}"
    return Response(export.serialize(rows, fmt), mimetype="text/csv" if fmt == "csv" else "application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
