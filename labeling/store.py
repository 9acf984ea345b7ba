"""PostgreSQL side of weak supervision: golden labels in, LF runs, votes and predictions out."""
from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from datasets.errors import GoldloopError

COPY_ROWS = 50_000


def check_version(engine: Engine, version: int) -> None:
    """A clear error when data-set ``version`` does not exist."""
    with engine.connect() as conn:
        found = conn.exec_driver_sql("SELECT 1 FROM dataset_versions WHERE version = %s", (version,)).scalar()
    if not found:
        raise GoldloopError(f"data-set version {version} does not exist; see bin/split.sh")


def golden_labels(engine: Engine, task: str, version: int) -> pd.DataFrame:
    """Golden labels of ``task`` on posts of ``version``: columns post_id, label (name), split."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT g.post_id, g.label, s.split FROM golden_labels g"
            " JOIN split_members s ON s.post_id = g.post_id AND s.version = %s"
            " WHERE g.task = %s AND g.label IS NOT NULL ORDER BY g.post_id", (version, task)).all()
    return pd.DataFrame(rows, columns=["post_id", "label", "split"])


def copy_rows(cursor: Any, table: str, columns: str, rows: Iterable[Sequence[Any]]) -> None:
    """COPY ``rows`` into ``table``, ``COPY_ROWS`` rows (one CSV buffer) at a time."""
    rows = iter(rows)
    while True:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(itertools.islice(rows, COPY_ROWS))
        if not buffer.tell():
            return
        buffer.seek(0)
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)


@contextmanager
def transaction(engine: Engine) -> Iterator[Any]:
    """A psycopg2 cursor (COPY-capable) whose work commits at the end, or rolls back on any error."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            yield cursor
        raw.commit()
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()


def record_run(engine: Engine, *, task: str, task_hash: str, version: int, lf_names: list[str],
               label_names: list[str], summary: dict[str, Any], params: dict[str, Any],
               ids: Sequence[str], L: np.ndarray, probs: np.ndarray, covered: np.ndarray) -> int:
    """In one transaction: the ``lf_runs`` row, every post's ``lf_votes``, and label-model predictions.

    Label-model predictions of ``task`` for the version's posts are replaced by this run's
    (covered posts only: a post no LF voted on gets no prediction). Returns the run id.
    """
    with transaction(engine) as cursor:
        cursor.execute(
            "INSERT INTO lf_runs (task, task_hash, version, lf_names, label_names, summary, params)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (task, task_hash, version, lf_names, label_names, json.dumps(summary), json.dumps(params)))
        run_id = int(cursor.fetchone()[0])
        copy_rows(cursor, "lf_votes", "run_id, post_id, votes",
                  ((run_id, post_id, "{" + ",".join(map(str, votes)) + "}")
                   for post_id, votes in zip(ids, L.tolist())))
        cursor.execute("DELETE FROM predictions WHERE task = %s AND source = 'label_model' AND post_id IN"
                       " (SELECT post_id FROM split_members WHERE version = %s)", (task, version))
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
        copy_rows(cursor, "predictions", "task, source, post_id, version, label, confidence, probs, run_ref",
                  ((task, "label_model", ids[i], version, label_names[best[i]], float(probs[i, best[i]]),
                    json.dumps(dict(zip(label_names, np.round(probs[i], 6).tolist()))), str(run_id))
                   for i in np.flatnonzero(covered)))
    return run_id


def latest_run(engine: Engine, task: str, version: int | None = None) -> int | None:
    """Id of the newest LF run of ``task`` (on ``version`` when given), or None."""
    sql = "SELECT max(id) FROM lf_runs WHERE task = %s" + (" AND version = %s" if version is not None else "")
    with engine.connect() as conn:
        run = conn.exec_driver_sql(sql, (task, version) if version is not None else (task,)).scalar()
    return None if run is None else int(run)


def load_votes(engine: Engine, run_id: int) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """The stored votes of one run: (lf_names, label_names, post ids, ``int8`` matrix)."""
    with engine.connect() as conn:
        head = conn.exec_driver_sql("SELECT lf_names, label_names FROM lf_runs WHERE id = %s", (run_id,)).first()
        if head is None:
            raise GoldloopError(f"no LF run with id {run_id}")
        rows = conn.exec_driver_sql("SELECT post_id, votes FROM lf_votes WHERE run_id = %s ORDER BY post_id",
                                    (run_id,)).all()
    L = np.array([r[1] for r in rows], dtype=np.int8).reshape(len(rows), len(head[0]))
    return list(head[0]), list(head[1]), [r[0] for r in rows], L
