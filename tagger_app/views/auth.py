"""Log in and out (flask-login, CSRF-protected forms), with failed logins throttled."""
from __future__ import annotations

import threading

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from datasets.store import annotators, logins
from tagger_app.security import User, safe_next
from tagger_app.state import transaction

bp = Blueprint("auth", __name__)
# One password hash at a time per server process: hashing is slow on purpose and takes a core, so
# logins queue for it (a few seconds at most) while the other threads keep serving annotators.
_hashing = threading.BoundedSemaphore(1)
HASH_WAIT_S = 5


class LoginForm(FlaskForm):
    """Annotator name and password."""

    name = StringField("Annotator", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


def _refuse(form: LoginForm, message: str, retry_after_s: int):
    flash(message)
    return render_template("login.html", form=form), 429, {"Retry-After": str(retry_after_s)}


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success, go where the annotator was heading."""
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("login.html", form=form), 200 if request.method == "GET" else 400
    name = form.name.data.strip()
    keys = logins.keys(name, request.remote_addr)
    with transaction() as conn:
        wait = logins.locked_for(conn, keys)
    if wait:
        return _refuse(form, f"Too many failed logins for this account or from this address: try again in {wait} s.",
                       wait)
    if not _hashing.acquire(timeout=HASH_WAIT_S):
        return _refuse(form, "The server is busy checking other logins: try again in a second.", 1)
    try:
        with transaction() as conn:
            account = annotators.authenticate(conn, name, form.password.data)
    finally:
        _hashing.release()
    with transaction() as conn:
        if account:
            logins.clear(conn, name)
        else:
            logins.record_failure(conn, keys)
    if not account:
        flash("Unknown annotator or wrong password.")
        return render_template("login.html", form=form), 401
    login_user(User(account))
    return redirect(safe_next(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
def logout():
    """End this session and every other session of the account."""
    with transaction() as conn:
        annotators.end_sessions(conn, current_user.name)
    logout_user()
    return redirect(url_for("auth.login"))
