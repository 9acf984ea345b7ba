"""Golden sets per split, with who labeled each item and how much they agreed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

COLUMNS = ("post_id", "split", "text", "label", "n_annotators", "annotators", "annotator_labels",
           "agreement", "conflict", "resolved", "labeled_at")

_ROWS = sa.text(
    "SELECT p.id AS post_id, sm.split, p.text, g.label, g.n_annotators, g.conflict, g.resolved,"
    "       agg.annotators, agg.votes AS annotator_labels, agg.labeled_at"
    " FROM split_members sm"
    " JOIN raw_posts p ON p.id = sm.post_id"
    " JOIN golden_labels g ON g.task = :task AND g.post_id = sm.post_id"
    " LEFT JOIN LATERAL ("
    "   SELECT array_agg(al.annotator ORDER BY al.annotator) AS annotators,"
    "          jsonb_object_agg(al.annotator, al.label) AS votes, max(al.created_at) AS labeled_at"
    "   FROM annotator_labels al WHERE al.task = :task AND al.post_id = sm.post_id AND al.action = 'label'"
    " ) agg ON true"
    " WHERE sm.version = :version AND (CAST(:split AS text) IS NULL OR sm.split = :split)"
    "   AND (g.label IS NOT NULL OR :conflicts)"
    " ORDER BY sm.split, p.id"
)


def rows(conn: Connection, task: str, version: int, split: str | None = None,
         include_conflicts: bool = False) -> list[dict[str, Any]]:
    """Golden rows of ``version`` (one split or all), ``COLUMNS`` in order.

    ``agreement`` is the share of annotators whose label equals the golden label (None when
    only a resolution exists); conflicts (label None) are left out unless ``include_conflicts``.
    """
    out = []
    for row in conn.execute(_ROWS, {"task": task, "version": version, "split": split,
                                    "conflicts": include_conflicts}).mappings():
        votes = row["annotator_labels"] or {}
        agree = sum(1 for v in votes.values() if v == row["label"])
        out.append({
            "post_id": row["post_id"], "split": row["split"], "text": row["text"], "label": row["label"],
            "n_annotators": row["n_annotators"], "annotators": list(row["annotators"] or []),
            "annotator_labels": votes, "agreement": round(agree / len(votes), 4) if votes else None,
            "conflict": row["conflict"], "resolved": row["resolved"],
            "labeled_at": row["labeled_at"].isoformat() if row["labeled_at"] else None,
        })
    return out


@dataclass(frozen=True)
class GoldenState:
    """An item's golden label (None while in conflict) and whether its annotators disagree."""

    label: str | None
    conflict: bool


def state_of(conn: Connection, task: str, post_id: str) -> GoldenState | None:
    """The item's golden state, or None when nobody labeled it."""
    row = conn.execute(sa.text("SELECT label, conflict FROM golden_labels WHERE task = :task AND post_id = :post_id"),
                       {"task": task, "post_id": post_id}).first()
    return GoldenState(*row) if row else None


class GoldenLabel(NamedTuple):
    """One post's golden label and the split of the data-set version it is in."""

    post_id: str
    label: str
    split: str


def version_labels(conn: Connection, task: str, version: int) -> list[GoldenLabel]:
    """The golden labels of ``task`` on the posts of data-set ``version``, in post id order;
    items in conflict (no golden label yet) are left out.

    What the label step and the training loop fit, judge and score on: only the label and the
    split, without the texts and annotator details ``rows`` gathers for an export.
    """
    return [GoldenLabel(*row) for row in conn.execute(sa.text(
        "SELECT g.post_id, g.label, s.split FROM golden_labels g"
        " JOIN split_members s ON s.post_id = g.post_id AND s.version = :version"
        " WHERE g.task = :task AND g.label IS NOT NULL ORDER BY g.post_id"), {"task": task, "version": version})]
