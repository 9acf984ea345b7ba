"""datasets.store.votes on a real PostgreSQL: an LF run's votes read back as written, and the
latest run of a task per data-set version (the tagger and the loop must not mix versions)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasets.errors import GoldloopError
from datasets.splits import create_version
from datasets.store import sql, votes
from tests.support.labeling import make_version

POSTS = [{"id": f"p{i}", "text": f"post number {i}"} for i in range(6)]


def _record(conn, version: int, L: np.ndarray, task: str = "toy") -> int:
    return votes.record_run(conn, task=task, task_hash="h", version=version, lf_names=["a", "b"],
                            label_names=["neg", "pos"], summary={"note": float("nan")}, params={},
                            post_ids=[p["id"] for p in POSTS], L=L)


def test_votes_read_back_and_latest_run_per_version(engine, tmp_path: Path) -> None:
    first = make_version(engine, tmp_path, POSTS)
    second = create_version(engine, test=0, dev=0, lf=0, seed=2, progress=False).version
    L = np.array([[0, -1], [1, 1], [-1, -1], [0, 1], [1, -1], [-1, 0]], dtype=np.int8)
    with sql.transaction(engine) as conn:
        on_second = _record(conn, second, L)
        on_first = _record(conn, first, L[::-1])  # recorded last, on the older version
        _record(conn, second, L, task="other")
    with engine.connect() as conn:
        stored = votes.run_votes(conn, on_second)
        assert votes.latest_run(conn, "toy", second)["id"] == on_second
        assert votes.latest_run(conn, "toy", first)["id"] == on_first
        latest = votes.latest_run(conn, "toy")
        assert votes.latest_run(conn, "nothing") is None
        assert "summary" not in latest  # the tagger asks for the run per item served: the summary is apart
        assert votes.run_summary(conn, on_first) == {"note": None} and votes.run_summary(conn, 999) == {}
        with pytest.raises(GoldloopError, match="no LF run with id 999"):
            votes.run_votes(conn, 999)
    assert stored.lf_names == ["a", "b"] and stored.label_names == ["neg", "pos"]
    assert stored.post_ids == [p["id"] for p in POSTS] and stored.matrix.dtype == np.int8
    assert (stored.matrix == L).all()
    assert latest["id"] == on_first and latest["version"] == first and latest["label_names"] == ["neg", "pos"]
