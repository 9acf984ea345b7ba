"""Signed values sent with every request (the session cookie, the CSRF token), each verified once
per process.

An annotator sends the same session cookie and the same CSRF token with every request; checking
their signatures again (key derivation, HMAC, base64, JSON) was a fifth of the server's Python
time per request under load (bench/tagger_load.py, py-spy). A signed value's content is fixed by
its bytes, so one that verified once maps to the same content until it expires: only that mapping
is remembered, never a decision. Forged or expired values always take the full check, and fail it.
"""
from __future__ import annotations

import hmac
import time

from flask import Flask, Request, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from itsdangerous import BadSignature

MAX_REMEMBERED = 10_000  # distinct values kept per process (forgotten all at once when full)
_PLAIN = (str, int, float, bool, type(None))


def _remember(cache: dict, key: str, value: object) -> None:
    if len(cache) >= MAX_REMEMBERED:
        cache.clear()
    cache[key] = value


class VerifiedCookieSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions; each distinct cookie is verified once per process.

    Only sessions of plain values are remembered: a request may change a list it finds in its
    session (flashed messages) in place.
    """

    def __init__(self) -> None:
        self._verified: dict[str, tuple[dict, float]] = {}  # cookie -> (data, expires at, epoch s)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The request's session: remembered when this cookie verified before and has not expired
        since, else verified as Flask does (a bad signature gives an empty session)."""
        if not app.secret_key:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        known = self._verified.get(value)
        if known is not None and time.time() < known[1]:
            return self.session_class(known[0])
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = self.get_signing_serializer(app).loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(isinstance(v, _PLAIN) for v in data.values()):
            _remember(self._verified, value, (data, signed_at.timestamp() + max_age))
        return self.session_class(data)


class VerifiedCSRFProtect(CSRFProtect):
    """flask-wtf's CSRF protection; a token sent in a header (the JSON API) that verified once is
    compared with the session's token without being unsigned again.

    Tokens without a time limit only (``WTF_CSRF_TIME_LIMIT = None``, the tagger's setting), and
    not on HTTPS, where flask-wtf also checks the referrer.
    """

    def __init__(self) -> None:
        super().__init__()
        self._unsigned: dict[str, str] = {}  # signed token -> the session token it carries

    def protect(self, apply_exemptions: bool = False) -> None:
        """Let the request through when its header token verified before and carries the session's
        token; else run flask-wtf's full check and remember the token when it passes."""
        config = current_app.config
        if request.method not in config["WTF_CSRF_METHODS"]:
            return
        remembering = config["WTF_CSRF_TIME_LIMIT"] is None and not request.is_secure
        token = next((t for t in map(request.headers.get, config["WTF_CSRF_HEADERS"]) if t), None)
        expected = session.get(config["WTF_CSRF_FIELD_NAME"])
        if remembering and token and isinstance(expected, str):
            known = self._unsigned.get(token)
            if known is not None and hmac.compare_digest(known, expected):
                g.csrf_valid = True
                return
        super().protect(apply_exemptions)
        if remembering and token and isinstance(expected, str) and self._get_csrf_token() == token:
            _remember(self._unsigned, token, expected)
