"""What the tagger does, independent of HTTP: serve the next items, record answers, undo."""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from datasets.store import labels as label_store
from datasets.store import leases, posts, predictions, queues
from tagger_app.inputs import Answer, BadRequest, Conflict, NextArgs, QueueRequest
from tagger_app.state import TaggerState

SPARE_CANDIDATES = 3  # extra items fetched per query, in case others claim the first ones meanwhile
CLAIM_ROUNDS = 4      # queries per request before telling the client to ask again
RETRY_AFTER_MS = 500
REVIEW_QUEUES = ("review", "disagree", "predictions")


def resolve_source(conn: Connection, state: TaggerState, q: QueueRequest) -> QueueRequest:
    """Fill in the default prediction source for the ``predictions`` queue."""
    if q.kind == "predictions" and not q.source:
        return q.model_copy(update={"source": predictions.default_source(conn, state.task.name)})
    return q


def next_items(conn: Connection, state: TaggerState, annotator: str, args: NextArgs) -> dict[str, Any]:
    """Up to ``args.n`` items of a queue for ``annotator`` (leased to them), with optional progress.

    ``exhausted`` is true only when the queue has no open item that nobody else holds; an empty
    answer that is not exhausted (other annotators claimed every candidate meanwhile) carries
    ``retry_after_ms``. ``cursor`` is where the client's next request resumes in the queue's
    order; at its end the search wraps around to items passed over before (leases that lapsed).
    """
    q = resolve_source(conn, state, args)
    version = state.current_version(conn)
    try:
        query = queues.build(conn, q.kind, task=state.task.name, labels=state.task.labels, annotator=annotator,
                             version=version, cap=state.annotations_per_item, split=q.split, source=q.source)
    except queues.QueueUnavailable as exc:
        return {"queue": q.as_dict(), "available": False, "exhausted": True, "message": str(exc), "items": []}
    ids, ran_out = _claim(conn, query, args.n, args.excluded(), args.cursor)
    if ran_out and args.cursor is not None and query.keyset and len(ids) < args.n:
        more, ran_out = _claim(conn, query, args.n - len(ids), args.excluded() + ids, None)  # items passed over
        ids += more
    items = posts.load(conn, state.task.name, version, annotator, ids, args.hints)
    if q.kind == "predictions":
        for item in items:
            item["prediction"] = predictions.prediction(conn, state.task.name, q.source, item["post_id"])
    out: dict[str, Any] = {"queue": {**q.as_dict(), **query.info}, "available": True, "items": items,
                           "exhausted": not items and ran_out, "version": version,
                           "cursor": query.cursor(conn, ids) or args.cursor}
    if args.progress:
        out["progress"] = query.progress(conn)
    if out["exhausted"]:
        out["message"] = "Nothing left in this queue." + (
            f" Items already labeled by {state.annotations_per_item} annotator(s) are skipped; the task file's"
            " [tagger] annotations_per_item asks for more opinions." if query.capped else "")
    elif not items:
        out.update(message="Other annotators took the next items; asking again.", retry_after_ms=RETRY_AFTER_MS)
    return out


def _claim(conn: Connection, query: queues.QueueQuery, n: int, exclude: list[str],
           after: str | None) -> tuple[list[str], bool]:
    """Up to ``n`` items leased to the annotator, asking again when others won the candidates
    meanwhile; also whether the queue ran out of open items nobody else holds."""
    ids: list[str] = []
    ran_out = False
    for _ in range(CLAIM_ROUNDS):
        want = n - len(ids)
        claimed = query.claim(conn, want, want + SPARE_CANDIDATES, exclude, after)
        fresh = query.still_open(conn, claimed.ids)
        leases.release(conn, query.params["task"], query.params["annotator"], sorted(set(claimed.ids) - set(fresh)))
        exclude = exclude + claimed.ids
        ids += fresh
        ran_out = claimed.ran_out
        if len(ids) >= n or ran_out:
            break
    return ids, ran_out


def _label_for_answer(conn: Connection, state: TaggerState, answer: Answer) -> tuple[str | None, dict[str, Any]]:
    """Prediction review: accept = the predicted label; reject = the other label (binary) or ``label``."""
    if answer.answer is None:
        return answer.label, {}
    if answer.kind != "predictions":
        raise BadRequest("answer: accept or reject is for the predictions queue", "answer")
    predicted = predictions.prediction(conn, state.task.name, answer.source or "", answer.post_id)
    if predicted is None:
        raise BadRequest(f"no {answer.source} prediction for post {answer.post_id}", "post_id")
    meta = {"answer": answer.answer, "prediction": predicted}
    if answer.answer == "accept":
        return predicted["label"], meta
    others = [x for x in state.task.labels if x != predicted["label"]]
    if len(others) == 1:
        return others[0], meta
    if answer.label in others:
        return answer.label, meta
    raise BadRequest(f"label: reject on a multi-class task needs the correct label, one of {others}", "label")


def _check_may_answer(conn: Connection, state: TaggerState, annotator: str, answer: Answer, action: str) -> None:
    """``Conflict`` unless the item is leased to ``annotator`` (or, in the split queue and the
    table, a member of that split nobody else holds) and, in the queues that collect labels, a new
    label stays within the task's annotator cap."""
    task = state.task.name
    lease = leases.lease_of(conn, task, answer.post_id)
    if lease is not None and lease.in_force and lease.annotator != annotator:
        raise Conflict(f"post {answer.post_id} is being labeled by another annotator", "post_id")
    if lease is None or lease.annotator != annotator:
        if not (answer.kind == "split" and posts.in_split(conn, state.current_version(conn), answer.split,
                                                          answer.post_id)):
            raise Conflict(f"post {answer.post_id} was not served to you in this queue: fetch it with /api/next",
                           "post_id")
    if action == "label" and answer.kind not in queues.RECHECK_QUEUES:
        others = [a for a in label_store.labelers(conn, task, answer.post_id) if a != annotator]
        if len(others) >= state.annotations_per_item:
            raise Conflict(f"post {answer.post_id} already has the labels of {len(others)} annotator(s), the task's"
                           " [tagger] annotations_per_item", "post_id")


def submit(conn: Connection, state: TaggerState, annotator: str, answer: Answer) -> dict[str, Any]:
    """Record one answer (label, skip, or accept/reject of a prediction); returns the stored row."""
    answer = resolve_source(conn, state, answer)
    label, meta = _label_for_answer(conn, state, answer)
    if answer.action == "label" and label not in state.task.labels:
        raise BadRequest(f"label: unknown label {label!r}; labels are {state.task.labels}", "label")
    if not posts.exists(conn, answer.post_id):
        raise BadRequest(f"post_id: unknown post {answer.post_id!r}", "post_id")
    _check_may_answer(conn, state, annotator, answer, answer.action)
    row = label_store.append(conn, task=state.task.name, post_id=answer.post_id, action=answer.action,
                             label=label if answer.action == "label" else None, annotator=annotator,
                             source="review" if answer.kind in REVIEW_QUEUES else "tagger",
                             duration_ms=answer.duration(), meta={**answer.as_dict(), "view": answer.view, **meta})
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
