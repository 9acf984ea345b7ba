"""Multi-annotator figures: per-annotator counts and speed, pairwise Cohen's kappa, conflicts."""
from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def annotator_stats(conn: Connection, task: str, annotator: str | None = None) -> list[dict[str, Any]]:
    """Per annotator: labels in force (total and per label), history counts, time on screen, items/hour."""
    history = conn.execute(sa.text(
        "SELECT annotator,"
        "       count(*) FILTER (WHERE action = 'label') AS answers,"
        "       count(*) FILTER (WHERE action = 'skip') AS skips,"
        "       count(*) FILTER (WHERE action = 'undo') AS undos,"
        "       count(*) FILTER (WHERE action = 'resolve') AS resolutions,"
        "       COALESCE(sum(duration_ms) FILTER (WHERE action IN ('label', 'skip')), 0) AS screen_ms,"
        "       count(*) FILTER (WHERE action IN ('label', 'skip') AND duration_ms IS NOT NULL) AS timed,"
        "       min(created_at) AS first_at, max(created_at) AS last_at"
        " FROM human_labels WHERE task = :task AND (CAST(:a AS text) IS NULL OR annotator = :a)"
        " GROUP BY annotator ORDER BY annotator"
    ), {"task": task, "a": annotator}).mappings().all()
    current = conn.execute(sa.text(
        "SELECT annotator, label, count(*) AS n FROM annotator_labels"
        " WHERE task = :task AND action = 'label' AND (CAST(:a AS text) IS NULL OR annotator = :a)"
        " GROUP BY annotator, label"
    ), {"task": task, "a": annotator}).all()
    by_label: dict[str, dict[str, int]] = {}
    for name, label, n in current:
        by_label.setdefault(name, {})[label] = n
    out = []
    for row in history:
        hours = row["screen_ms"] / 3_600_000
        out.append({
            "annotator": row["annotator"],
            "labels": sum(by_label.get(row["annotator"], {}).values()),
            "by_label": by_label.get(row["annotator"], {}),
            "answers": row["answers"], "skips": row["skips"], "undos": row["undos"],
            "resolutions": row["resolutions"],
            "screen_minutes": round(row["screen_ms"] / 60_000, 2),
            "items_per_hour": round(row["timed"] / hours, 1) if hours > 0 else None,
            "first_at": row["first_at"].isoformat() if row["first_at"] else None,
            "last_at": row["last_at"].isoformat() if row["last_at"] else None,
        })
    return out


def pairwise_kappa(conn: Connection, task: str, labels: list[str]) -> list[dict[str, Any]]:
    """Cohen's kappa (scikit-learn) for every pair of annotators with items in common."""
    from sklearn.metrics import cohen_kappa_score

    votes: dict[str, dict[str, str]] = {}
    for name, post_id, label in conn.execute(sa.text(
            "SELECT annotator, post_id, label FROM annotator_labels WHERE task = :task AND action = 'label'"),
            {"task": task}):
        votes.setdefault(name, {})[post_id] = label
    pairs = []
    for a, b in combinations(sorted(votes), 2):
        common = sorted(votes[a].keys() & votes[b].keys())
        if not common:
            continue
        ya, yb = [votes[a][p] for p in common], [votes[b][p] for p in common]
        kappa = float(cohen_kappa_score(ya, yb, labels=labels))
        pairs.append({"a": a, "b": b, "items": len(common),
                      "agreement": round(sum(x == y for x, y in zip(ya, yb)) / len(common), 4),
                      "kappa": None if math.isnan(kappa) else round(kappa, 4)})
    return pairs


def golden_counts(conn: Connection, task: str) -> dict[str, Any]:
    """Golden labels of the task: per label, conflicts open, conflicts resolved."""
    rows = conn.execute(sa.text(
        "SELECT label, conflict, resolved, count(*) FROM golden_labels WHERE task = :task GROUP BY 1, 2, 3"
    ), {"task": task}).all()
    by_label: dict[str, int] = {}
    conflicts = resolved = 0
    for label, conflict, was_resolved, n in rows:
        if label is not None:
            by_label[label] = by_label.get(label, 0) + n
        conflicts += n if conflict else 0
        resolved += n if was_resolved else 0
    return {"by_label": by_label, "total": sum(by_label.values()), "conflicts": conflicts, "resolved": resolved}


def conflicts(conn: Connection, task: str, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    """Items whose annotators disagree and nobody resolved: (total, one page with each annotator's label)."""
    total = conn.execute(sa.text("SELECT count(*) FROM golden_labels WHERE task = :task AND conflict"),
                         {"task": task}).scalar_one()
    rows = conn.execute(sa.text(
        "SELECT g.post_id, p.text, p.author,"
        "       (SELECT jsonb_object_agg(al.annotator, al.label) FROM annotator_labels al"
        "         WHERE al.task = :task AND al.post_id = g.post_id AND al.action = 'label') AS votes"
        " FROM golden_labels g JOIN raw_posts p ON p.id = g.post_id"
        " WHERE g.task = :task AND g.conflict ORDER BY g.post_id LIMIT :limit OFFSET :offset"
    ), {"task": task, "limit": limit, "offset": offset}).mappings().all()
    return total, [dict(r) for r in rows]


def resolutions(conn: Connection, task: str, limit: int) -> list[dict[str, Any]]:
    """The latest resolutions and overrides, newest first, each with whether it was undone."""
    rows = conn.execute(sa.text(
        "SELECT h.id, h.post_id, h.label, h.annotator, h.created_at, h.meta,"
        "       EXISTS (SELECT 1 FROM human_labels u WHERE u.undoes = h.id) AS undone"
        " FROM human_labels h WHERE h.task = :task AND h.action = 'resolve' ORDER BY h.id DESC LIMIT :limit"
    ), {"task": task, "limit": limit}).mappings()
    return [{**row, "override": bool(row["meta"].get("override")), "reason": row["meta"].get("reason"),
             "previous": row["meta"].get("previous")} for row in rows]
