"""Prediction review: accept or reject a model's predicted label (binary, like Prodigy's teach)."""
from __future__ import annotations

from flask import Blueprint, request

from datasets.store.queues import PREDICTION_SOURCES
from tagger_app.inputs import QueueRequest
from tagger_app.views.label import render_tagger

bp = Blueprint("review", __name__)


@bp.get("/review")
def review_page():
    """Review predictions of ?source=end_model|label_model (default: end model when it has any)."""
    source = request.args.get("source")
    return render_tagger(QueueRequest(queue="predictions", source=source if source in PREDICTION_SOURCES else None))
