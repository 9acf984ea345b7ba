"""The table view: 50 items per page, search, filters, and inline relabeling (plain forms)."""
from __future__ import annotations

import math

from flask import Blueprint, flash, redirect, render_template, request
from flask_login import current_user

from datasets.store import table as table_store
from datasets.store import votes
from datasets.store.versions import SPLITS
from tagger_app import service
from tagger_app.inputs import Answer, PageArgs, parse
from tagger_app.security import safe_next
from tagger_app.state import tagger, transaction

bp = Blueprint("table", __name__)


def _filter() -> table_store.TableFilter:
    args = request.args
    split = args.get("split") if args.get("split") in SPLITS else "test"
    page = parse(PageArgs, args).page
    return table_store.TableFilter(split=split, query=args.get("q", "").strip()[:200], label=args.get("label", ""),
                                   lf_vote=args.get("lf", ""), disagree=args.get("disagree") == "1", page=page)


@bp.get("/table")
def table_page():
    """One page of a split with the golden label, your label and the LF votes of each item."""
    state = tagger()
    f = _filter()
    with transaction() as conn:
        version = state.current_version(conn)
        run = votes.latest_run(conn, state.task.name, version)
        total, rows = (table_store.page(conn, state.task.name, version, run, current_user.name, f)
                       if version is not None else (0, []))
    pages = max(1, math.ceil(total / table_store.PAGE_SIZE))
    return render_template("table.html", f=f, rows=rows, total=total, pages=pages, version=version,
                           splits=SPLITS, has_lf=run is not None, special=table_store)


@bp.post("/table/label")
def relabel():
    """Inline relabel from the table (a form post), then back to the same page."""
    form = request.form
    answer = parse(Answer, {"post_id": form.get("post_id"), "label": form.get("label"), "queue": "split",
                            "split": form.get("split"), "view": "table"})
    with transaction() as conn:
        service.submit(conn, tagger(), current_user.name, answer)
    flash(f"Labeled {answer.post_id} as {answer.label}.")
    return redirect(safe_next(form.get("back")))
