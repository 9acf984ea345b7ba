"""The predict API: a task's production model over HTTP (Flask application factory).

    from models.serving import create_app
    app = create_app({"PREDICT_TASK": "labeling/tasks/ai_tweets.toml"})

Configuration keys (all optional):

``PREDICT_TASK``     task file (default ``labeling/tasks/ai_tweets.toml``)
``PREDICT_LIMITS``   :class:`models.serving.inputs.Limits` (texts per request, characters per
                     text, body bytes; defaults 1,000 / 5,000 / 8 MiB)
``PREDICT_POLL_SECONDS``  how often the registry is asked for a new production model (default 1)

Every route but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer TOKEN`` (tokens from
``bin/token.sh add NAME``). The model is loaded by :meth:`ModelHolder.start`, which the server
calls in each worker process after the fork (``bin/serve.sh``); until then ``/readyz`` is 503.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from datasets.store import db
from labeling.task import load_task
from models.serving import views
from models.serving.auth import TokenChecker
from models.serving.holder import POLL_SECONDS, ModelHolder
from models.serving.inputs import InputError, Limits

PUBLIC_PATHS = {"/healthz", "/readyz"}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the predict API: settings, the token check, the model holder (not started) and routes."""
    app = Flask(__name__)
    app.config.update(PREDICT_TASK=None, PREDICT_LIMITS=Limits(), PREDICT_POLL_SECONDS=POLL_SECONDS)
    app.config.update(config or {})
    limits: Limits = app.config["PREDICT_LIMITS"]
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    engine = db.get_engine()
    app.extensions["goldloop_predict"] = ModelHolder(engine, load_task(app.config["PREDICT_TASK"]),
                                                     app.config["PREDICT_POLL_SECONDS"])
    checker = TokenChecker(engine)

    @app.before_request
    def _authenticate() -> Any:
        if request.path in PUBLIC_PATHS:
            return None
        g.token_name = checker.name_of(request.headers.get("Authorization"))
        if g.token_name is None:
            response, status = views.error_response(401, "send a valid token: Authorization: Bearer TOKEN"
                                                    " (bin/token.sh add NAME creates one)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="goldloop"'
            return response, status
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.register_error_handler(InputError, lambda e: views.error_response(e.status, str(e), e.field))
    app.register_error_handler(HTTPException, lambda e: views.error_response(e.code or 500, e.description or e.name))
    app.register_blueprint(views.bp)
    return app
