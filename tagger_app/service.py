"""What the tagger does, independent of HTTP: serve the next items, record answers, undo."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from tagger_app import leases
from tagger_app.state import TaggerState
from tagger_app.store import labels as label_store
from tagger_app.store import posts, queues

MAX_BATCH = 20
SPARE_CANDIDATES = 3  # extra items fetched per query, in case others claim the first ones meanwhile
REVIEW_QUEUES = ("review", "disagree", "predictions")
# Queues whose items are open for the annotator (so no label of theirs) and that show no golden
# label (tagger.js): their items are fetched without the label look-ups.
UNLABELED_QUEUES = ("split", "random")


class BadRequest(ValueError):
    """The client asked for something invalid; the message says what."""


@dataclass(frozen=True)
class QueueRequest:
    """Which queue a client works on (``kind`` plus its ``split`` or prediction ``source``)."""

    kind: str = "split"
    split: str | None = "test"
    source: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> "QueueRequest":
        """Read ``queue``, ``split`` and ``source`` from request arguments or a JSON body."""
        kind = args.get("queue") or "split"
        split = args.get("split") or ("test" if kind == "split" else None)
        return cls(kind=kind, split=split, source=args.get("source") or None)

    def as_dict(self) -> dict[str, Any]:
        """JSON form, echoed to clients and stored in each label's ``meta``."""
        return {k: v for k, v in (("queue", self.kind), ("split", self.split), ("source", self.source)) if v}


def resolve_source(conn: Connection, state: TaggerState, q: QueueRequest) -> QueueRequest:
    """Fill in the default prediction source for the ``predictions`` queue."""
    if q.kind == "predictions" and not q.source:
        return QueueRequest(q.kind, q.split, queues.default_prediction_source(conn, state.task.name))
    return q


def next_items(conn: Connection, state: TaggerState, annotator: str, q: QueueRequest, n: int,
               exclude: list[str], hints: bool, progress: bool) -> dict[str, Any]:
    """Up to ``n`` items of queue ``q`` for ``annotator`` (leased to them), with optional progress."""
    q = resolve_source(conn, state, q)
    version = state.current_version(conn)
    try:
        query = queues.build(conn, q.kind, task=state.task.name, labels=state.task.labels, annotator=annotator,
                             version=version, cap=state.annotations_per_item, split=q.split, source=q.source)
    except queues.QueueUnavailable as exc:
        return {"queue": q.as_dict(), "available": False, "message": str(exc), "items": []}
    n = max(1, min(int(n), MAX_BATCH))
    ids, rows = _claim(conn, state, annotator, query, n, exclude,
                       posts.rows_sql(leases.CLAIMED_IDS, labels=q.kind not in UNLABELED_QUEUES))
    items = posts.items(rows, ids)
    if hints:
        posts.add_hints(conn, state.task.name, items)
    if q.kind == "predictions":
        for item in items:
            item["prediction"] = posts.prediction(conn, state.task.name, q.source, item["post_id"])
    out: dict[str, Any] = {"queue": {**q.as_dict(), **query.info}, "available": True, "items": items,
                           "version": version}
    if progress:
        out["progress"] = query.progress(conn)
    if not items:
        out["message"] = "Nothing left in this queue." + (
            f" Items already labeled by {state.annotations_per_item} annotator(s) are skipped; the task file's"
            " [tagger] annotations_per_item asks for more opinions." if query.capped else "")
    return out


def _claim(conn: Connection, state: TaggerState, annotator: str, query: queues.QueueQuery, n: int,
           exclude: list[str], rows_sql: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Up to ``n`` next items leased to ``annotator`` (retrying when other annotators won races):
    their ids and their post rows (``rows_sql``, fetched by the claiming statement itself)."""
    mark, generation = state.marks.get(query.mark_key)
    got: list[str] = []
    rows: list[dict[str, Any]] = []
    for _ in range(4):
        want = n - len(got)
        claimed = query.claim(conn, want, want + SPARE_CANDIDATES, exclude + got, mark, rows_sql)
        got += claimed.ids
        rows += claimed.rows
        if len(got) >= n or claimed.ran_out:
            break
    if state.marks.due(query.mark_key):
        state.marks.sync_undos(queues.latest_undo(conn, state.task.name))
        state.marks.raise_to(query.mark_key, query.advance(conn, mark), generation)
    return got, rows


def _label_for_answer(conn: Connection, state: TaggerState, q: QueueRequest, post_id: str,
                      answer: str, label: str | None) -> tuple[str, dict[str, Any]]:
    """Prediction review: accept = the predicted label; reject = the other label (binary) or ``label``."""
    predicted = posts.prediction(conn, state.task.name, q.source or "", post_id)
    if predicted is None:
        raise BadRequest(f"no {q.source} prediction for post {post_id}")
    meta = {"answer": answer, "prediction": predicted}
    if answer == "accept":
        return predicted["label"], meta
    others = [x for x in state.task.labels if x != predicted["label"]]
    if len(others) == 1:
        return others[0], meta
    if label in others:
        return label, meta
    raise BadRequest(f"reject on a multi-class task needs the correct 'label' (one of {others})")


def submit(conn: Connection, state: TaggerState, annotator: str, body: dict[str, Any]) -> dict[str, Any]:
    """Record one answer (label, skip, or accept/reject of a prediction); returns the stored row."""
    post_id = body.get("post_id")
    if not isinstance(post_id, str) or not post_id:
        raise BadRequest("'post_id' (string) is required")
    q = resolve_source(conn, state, QueueRequest.from_args(body))
    action = body.get("action") or "label"
    label = body.get("label")
    meta: dict[str, Any] = {**q.as_dict(), "view": body.get("view") or "label"}
    answer = body.get("answer")
    if answer is not None:
        if answer not in ("accept", "reject") or q.kind != "predictions":
            raise BadRequest("'answer' must be accept or reject, on the predictions queue")
        label, extra = _label_for_answer(conn, state, q, post_id, answer, label)
        meta.update(extra)
    if action not in ("label", "skip"):
        raise BadRequest("'action' must be label or skip")
    if action == "label" and label not in state.task.labels:
        raise BadRequest(f"unknown label {label!r}; labels are {state.task.labels}")
    source = "review" if q.kind in REVIEW_QUEUES else "tagger"
    row = label_store.append(conn, task=state.task.name, post_id=post_id, action=action,
                             label=label if action == "label" else None, annotator=annotator, source=source,
                             duration_ms=body.get("duration_ms"), meta=meta)
    if row is None:
        raise BadRequest(f"unknown post {post_id!r}")
    return {**row, "created_at": row["created_at"].isoformat()}


def undo(conn: Connection, state: TaggerState, annotator: str, post_id: str | None,
         hints: bool) -> dict[str, Any] | None:
    """Withdraw the annotator's latest answer; returns it with the item to show again (None: nothing)."""
    undone = label_store.undo_last(conn, state.task.name, annotator, post_id)
    if undone is None:
        return None
    leases.claim(conn, state.task.name, annotator, [undone["post_id"]])
    item = posts.load(conn, state.task.name, state.current_version(conn), annotator, [undone["post_id"]], hints)
    return {"undone": undone, "item": item[0] if item else None}
