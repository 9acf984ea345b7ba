"""Logins, CSRF, security headers, and the rule that every page and API route needs a login."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFError

from datasets import workspace
from tagger_app.verified import VerifiedCookieSessionInterface, VerifiedCSRFProtect
from tagger_app.state import connection
from tagger_app.store import annotators

PUBLIC_ENDPOINTS = {"auth.login", "static"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")

login_manager = LoginManager()


class User(UserMixin):
    """The logged-in annotator (flask-login user); ``id`` is the account name."""

    def __init__(self, name: str) -> None:
        self.id = name
        self.name = name


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


ACTIVE_CACHE_S = 1.0  # a disabled account is locked out within this many seconds
_active_until: dict[str, float] = {}


@login_manager.user_loader
def _load_user(name: str) -> User | None:
    """The session's annotator while the account is active (checked at most every ACTIVE_CACHE_S)."""
    now = time.monotonic()
    if _active_until.get(name, 0.0) > now:
        return User(name)
    if annotators.get_active(connection(), name) is None:
        _active_until.pop(name, None)
        return None
    _active_until[name] = now + ACTIVE_CACHE_S
    return User(name)


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


def _error(status: int, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    """Install sessions, CSRF protection, flask-login, the login-everywhere rule, headers and error pages."""
    app.session_interface = VerifiedCookieSessionInterface()
    VerifiedCSRFProtect().init_app(app)  # per application: what it remembers belongs to one secret key
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    app.before_request(_require_login)
    app.after_request(_headers)
    app.register_error_handler(CSRFError, lambda e: _error(400, f"request refused: {e.description}"))
    for status, message in ((400, "bad request"), (404, "not found"), (405, "method not allowed"),
                            (413, "request too large")):
        app.register_error_handler(status, lambda e, s=status, m=message: _error(s, getattr(e, "description", m)))
