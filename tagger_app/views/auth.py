"""Log in and out (flask-login, CSRF-protected forms)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from tagger_app.security import User, safe_next
from tagger_app.state import autocommit
from tagger_app.store import annotators

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    """Annotator name and password."""

    name = StringField("Annotator", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The login form; on success, go where the annotator was heading."""
    form = LoginForm()
    if form.validate_on_submit():
        with autocommit() as conn:
            account = annotators.authenticate(conn, form.name.data.strip(), form.password.data)
        if account:
            login_user(User(account.name))
            return redirect(safe_next(request.args.get("next")))
        flash("Unknown annotator or wrong password.")
    return render_template("login.html", form=form), 200 if request.method == "GET" else 401


@bp.route("/logout", methods=["POST"])
def logout():
    """End the session."""
    logout_user()
    return redirect(url_for("auth.login"))
