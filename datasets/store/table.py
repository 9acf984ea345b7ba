"""The table view: one page of a split with text search and label / LF-vote / disagreement filters."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

PAGE_SIZE = 50
UNLABELED, CONFLICT, ABSTAIN = "_unlabeled", "_conflict", "_abstain"


@dataclass(frozen=True)
class TableFilter:
    """What the table shows: a split, a text search, and optional filters (empty = no filter)."""

    split: str
    query: str = ""
    label: str = ""        # a label name, UNLABELED or CONFLICT
    lf_vote: str = ""      # a label name some LF votes for, or ABSTAIN (every LF abstains)
    disagree: bool = False  # golden label contradicted by an LF
    page: int = 1


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def page(conn: Connection, task: str, version: int, run: dict[str, Any] | None, annotator: str,
         f: TableFilter) -> tuple[int, list[dict[str, Any]]]:
    """(matching rows, the rows of page ``f.page``) with golden label, my label and LF votes."""
    label_names = run["label_names"] if run else []
    where = ["sm.version = :version", "sm.split = :split"]
    if f.query:
        where.append("p.text ILIKE :like")
    if f.label == UNLABELED:
        where.append("g.post_id IS NULL")
    elif f.label == CONFLICT:
        where.append("g.conflict")
    elif f.label:
        where.append("g.label = :label")
    if f.lf_vote == ABSTAIN:
        where.append("NOT EXISTS (SELECT 1 FROM unnest(v.votes) x WHERE x >= 0)")
    elif f.lf_vote:
        where.append("EXISTS (SELECT 1 FROM unnest(v.votes) x WHERE x = array_position(CAST(:names AS text[]), :lf_vote) - 1)")
    if f.disagree:
        where.append("g.label IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(v.votes) x"
                     " WHERE x >= 0 AND x <> array_position(CAST(:names AS text[]), g.label) - 1)")
    sql_from = (
        " FROM split_members sm JOIN raw_posts p ON p.id = sm.post_id"
        " LEFT JOIN golden_labels g ON g.task = :task AND g.post_id = sm.post_id"
        " LEFT JOIN lf_votes v ON v.run_id = :run_id AND v.post_id = sm.post_id"
        " WHERE " + " AND ".join(where)
    )
    params = {"task": task, "version": version, "split": f.split, "like": _like(f.query), "label": f.label,
              "lf_vote": f.lf_vote, "names": label_names, "run_id": run["id"] if run else None,
              "annotator": annotator, "limit": PAGE_SIZE, "offset": (max(f.page, 1) - 1) * PAGE_SIZE}
    total = conn.execute(sa.text("SELECT count(*)" + sql_from), params).scalar_one()
    rows = conn.execute(sa.text(
        "SELECT sm.post_id, p.text, p.author, g.label AS golden_label, COALESCE(g.conflict, false) AS conflict,"
        "       g.n_annotators, v.votes,"
        "       (SELECT al.label FROM annotator_labels al WHERE al.task = :task AND al.post_id = sm.post_id"
        "         AND al.annotator = :annotator) AS my_label"
        + sql_from + " ORDER BY sm.norm_hash LIMIT :limit OFFSET :offset"
    ), params).mappings().all()
    out = []
    for row in rows:
        item = dict(row)
        votes = item.pop("votes") or []
        item["lf_votes"] = [label_names[x] for x in votes if 0 <= x < len(label_names)]
        out.append(item)
    return total, out
