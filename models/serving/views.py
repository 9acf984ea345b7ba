"""The predict API's routes (one blueprint): predict, the model, liveness and readiness.

Documented in ``docs/predict-api.yaml`` (OpenAPI 3), which the fuzz test reads.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from models.serving.holder import ModelHolder
from models.serving.inputs import InputError, Limits, parse_predict

bp = Blueprint("predict_api", __name__)


def holder() -> ModelHolder:
    return current_app.extensions["goldloop_predict"]


def error_response(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    """Every error of the API: ``{"error": message}`` plus ``field`` naming the input at fault when
    there is one, with a 4xx status (503 only while no model is loaded)."""
    return jsonify({"error": message, **({"field": field} if field else {})}), status


def _not_ready() -> tuple[Response, int]:
    return error_response(503, holder().problem or "no production model loaded yet")


@bp.get("/healthz")
def healthz() -> Any:
    """200 while the process is up: it says nothing about the model (see ``/readyz``)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Any:
    """200 once a production model is loaded (503 before), with the run it serves."""
    model = holder().model
    if model is None:
        return _not_ready()
    return jsonify({"status": "ready", "run_id": model.run_id, "event_id": model.event_id,
                    "problem": holder().problem})


@bp.get("/v1/model")
def model_info() -> Any:
    """The task, its labels, the production run and its golden test metrics."""
    model = holder().model
    if model is None:
        return _not_ready()
    return jsonify({"task": model.task.name, "labels": model.labels, "run_id": model.run_id,
                    "version": model.version, "event_id": model.event_id,
                    "architecture": model.classifier.params.architecture, "golden_test": model.metrics})


@bp.post("/v1/predict")
def predict() -> Any:
    """Label and class probabilities of each text, in request order, with the run that made them."""
    limits: Limits = current_app.config["PREDICT_LIMITS"]
    body = request.get_json(silent=True)
    if body is None:
        raise InputError("send a JSON object with Content-Type: application/json", status=400)
    parsed = parse_predict(body, limits)
    model = holder().model  # one model for the whole request, whatever a reload does meanwhile
    if model is None:
        return _not_ready()
    ids, texts = parsed.items()
    probs = model.predict_proba(texts).tolist()  # ids are the client's, not the store's: no embedding cache
    labels = model.labels
    out = []
    for post_id, row in zip(ids, probs):
        best = max(range(len(labels)), key=row.__getitem__)
        out.append({"id": post_id, "label": labels[best], "probs": dict(zip(labels, row)), "run_id": model.run_id})
    return jsonify({"task": model.task.name, "run_id": model.run_id, "predictions": out})
