"""goldloop web tagger: golden labels in the browser (Flask application factory).

    from tagger_app import create_app
    app = create_app({"TAGGER_TASK": "labeling/tasks/ai_tweets.toml", "TAGGER_VERSION": 1})

Configuration keys (all optional):

``TAGGER_TASK``                  task file (default ``labeling/tasks/ai_tweets.toml``)
``TAGGER_VERSION``               data-set version to serve (default: the latest, looked up per request)
``TAGGER_ANNOTATIONS_PER_ITEM``  how many annotators label each item in the collecting queues
                                 (default: ``[tagger] annotations_per_item`` of the task file, else 1)
``SECRET_KEY``                   session key (default: kept in ``$GOLDLOOP_HOME/tagger-secret.key``)
"""
from __future__ import annotations

from typing import Any

from flask import Flask

from tagger_app import security
from tagger_app.state import TaggerState


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the tagger application: settings, security, accounts and every blueprint."""
    app = Flask(__name__)
    app.config.update(
        TAGGER_TASK=None, TAGGER_VERSION=None, TAGGER_ANNOTATIONS_PER_ITEM=None,
        WTF_CSRF_TIME_LIMIT=None,            # the token lives as long as the session
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_HTTPONLY=True,
        JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=64 * 1024,
    )
    app.config.update(config or {})
    state = TaggerState.from_config(app.config)
    app.extensions["goldloop_tagger"] = state
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = security.secret_key()
    security.init_app(app)

    from tagger_app.views import api, auth, dashboard, label, live, report, review, table

    for module in (auth, label, review, table, report, dashboard, live, api):
        app.register_blueprint(module.bp)

    @app.context_processor
    def _task_context() -> dict[str, Any]:
        return {"task": state.task}

    return app
