"""The labeling view: one item at a time, keyboard first (the JavaScript lives in static/tagger.js)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from datasets.store.queues import PREDICTION_SOURCES
from datasets.store.versions import SPLITS
from tagger_app import service
from tagger_app.inputs import BadRequest, QueueRequest, parse
from tagger_app.state import tagger, transaction

bp = Blueprint("label", __name__)

QUEUE_TITLES = {
    "split": "Golden set: one split in order",
    "active": "Active learning",
    "disagree": "LF / human disagreements",
    "random": "Random items",
    "review": "Label review",
    "predictions": "Prediction review",
}


def render_tagger(q: QueueRequest) -> str:
    """The labeling page for queue ``q`` (also used by prediction review)."""
    state = tagger()
    with transaction() as conn:
        q = service.resolve_source(conn, state, q)
        version = state.current_version(conn)
    config: dict[str, Any] = {
        "queue": q.as_dict(), "labels": state.task.labels, "binary": len(state.task.labels) == 2,
        "task": state.task.name, "version": version, "prefetch": 3,
    }
    return render_template("label.html", cfg=config, q=q, titles=QUEUE_TITLES, splits=SPLITS,
                           sources=PREDICTION_SOURCES, version=version)


@bp.get("/")
def index():
    """Home: the golden test-set queue."""
    return redirect(url_for("label.label_page"))


@bp.get("/label")
def label_page():
    """Label items of a queue: ?queue=split|active|disagree|random|review&split=test|dev|lf|train."""
    try:
        q = parse(QueueRequest, request.args)
    except BadRequest:  # a stale or mistyped link: the default queue
        q = QueueRequest()
    return render_tagger(q)
