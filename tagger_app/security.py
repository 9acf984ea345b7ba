"""Logins, roles, CSRF, security headers, error responses, and the rule that every page and API
route needs a login.

Sessions are Flask's signed cookies and CSRF is flask-wtf's ``CSRFProtect``, both as they come.
A session names the account and its session epoch (``User.get_id``); the account is looked up on
every request, so logout, a new password or disabling ends every session of the account at once.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from datasets import workspace
from datasets.store import annotators
from tagger_app.inputs import BadRequest, refuse_nul
from tagger_app.state import transaction

PUBLIC_ENDPOINTS = {"auth.login", "static"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
UNAVAILABLE = "The database cannot be reached right now; try again in a moment."

login_manager = LoginManager()


class User(UserMixin):
    """The logged-in account (flask-login user); its id is ``name:session_epoch``."""

    def __init__(self, account: annotators.Annotator) -> None:
        self.name = account.name
        self.is_admin = account.is_admin
        self.id = f"{account.name}:{account.session_epoch}"


def secret_key() -> bytes:
    """The session key kept in the workspace, so sessions survive a server restart."""
    path = Path(workspace.home()) / "tagger-secret.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def wants_json() -> bool:
    """True for JSON API requests (they get JSON errors instead of pages and redirects)."""
    return request.path.startswith("/api/") or request.path == "/api"


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else the home page (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("label.index")


def require_admin() -> None:
    """403 unless the logged-in account is an admin (a blueprint's ``before_request`` or a call)."""
    if not current_user.is_admin:
        abort(403, description="only admins may do this")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The session's account while it is active and the session's epoch is the account's."""
    name, _, epoch = user_id.rpartition(":")
    if not epoch.isdecimal() or len(epoch) > 9:
        return None
    with transaction() as conn:
        account = annotators.session_account(conn, name, int(epoch))
    return User(account) if account else None


def _refuse_nul() -> None:
    refuse_nul([*request.args.items(multi=True), *request.form.items(multi=True),
                ("", request.get_json(silent=True) if request.is_json else None)])


def _require_login() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if wants_json():
        return jsonify(error="login required"), 401
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def error_response(status: int, message: str, field: str | None = None) -> tuple[Response | str, int]:
    """JSON ``{"error", "field"}`` for the API, the error page elsewhere."""
    if wants_json():
        return jsonify(error=message, **({"field": field} if field else {})), status
    return render_template("error.html", status=status, message=message), status


def _unavailable(_exc: Exception) -> tuple[Response | str, int]:
    """The database is down: JSON 503, or a page rendered without the context processors (which
    would look the logged-in account up in the database again)."""
    if wants_json():
        return jsonify(error=UNAVAILABLE), 503
    page = current_app.jinja_env.get_template("unavailable.html")
    return page.render(message=UNAVAILABLE, path=request.path), 503


def init_app(app: Flask) -> None:
    """Install CSRF protection, flask-login, the NUL and login rules, headers and error responses."""
    CSRFProtect(app)
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(_refuse_nul)
    app.before_request(_require_login)
    app.after_request(_headers)
    app.register_error_handler(BadRequest, lambda e: error_response(e.status, str(e), e.field))
    app.register_error_handler(HTTPException, lambda e: error_response(e.code or 500, e.description or e.name))
    app.register_error_handler(sa.exc.DataError, lambda e: error_response(400, "a value is out of range"))
    for exc in (sa.exc.OperationalError, sa.exc.InterfaceError):
        app.register_error_handler(exc, _unavailable)
