"""Flask's signed-cookie sessions, with each cookie's verification remembered per process.

An annotator sends the same session cookie with every request; checking its signature again
(key derivation, HMAC, base64, JSON) was a seventh of the server's time per request under load
(bench/tagger_load.py). The cookie's content is fixed by its signed bytes, so a cookie verified
once maps to the same data until it expires; only that mapping is cached, never a decision, and
only for sessions of plain values (a request may change a list it finds in its session, such as
flashed messages, in place).
"""
from __future__ import annotations

import time

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

MAX_REMEMBERED = 10_000  # distinct cookies kept per process (cleared when full)
_PLAIN = (str, int, float, bool, type(None))


class VerifiedCookieSessionInterface(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` that verifies each distinct cookie once per process."""

    def __init__(self) -> None:
        self._verified: dict[str, tuple[dict, float]] = {}  # cookie -> (data, expires at, epoch s)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        """The request's session: from the cache when this cookie was verified before and has
        not expired since, else verified as Flask does (a bad signature gives an empty session)."""
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        known = self._verified.get(value)
        if known is not None and time.time() < known[1]:
            return self.session_class(known[0])
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if all(isinstance(v, _PLAIN) for v in data.values()):
            if len(self._verified) >= MAX_REMEMBERED:
                self._verified.clear()
            self._verified[value] = (data, signed_at.timestamp() + max_age)
        return self.session_class(data)
