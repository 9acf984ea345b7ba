"""bin/import_labels.sh: CSV, JSONL and parquet labels become human labels; bad rows are reported."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from datasets.errors import GoldloopError
from labeling.import_labels import ImportResult, Reject, import_labels, parse_map
from labeling.task import TASKS_DIR
from tests.support.labeling import insert_posts
from tests.support.results import check_json

REPO = Path(__file__).resolve().parent.parent
YOUTUBE = TASKS_DIR / "youtube_spam.toml"


@pytest.fixture()
def posts(engine) -> list[str]:
    ids = [f"p{i}" for i in range(6)]
    insert_posts(engine, [{"id": i, "text": f"post {i}"} for i in ids])
    return ids


def human_labels(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT post_id, label, annotator, source, action FROM human_labels ORDER BY id").all()]


def test_csv_names_and_indices_with_rejects_and_idempotence(engine, posts, tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_text("COMMENT_ID,CLASS\np0,spam\np1,0\np2,1\nnope,ham\np3,maybe\n,ham\np4,\"ham\"\np0,spam\np4,spam\n")
    result = import_labels(path, task_path=YOUTUBE, id_column="COMMENT_ID", label_column="CLASS", progress=False)
    assert (result.read, result.imported, result.skipped, result.rejected) == (9, 4, 1, 4)
    assert [(r.where, r.reason.split(" (")[0]) for r in result.rejects] == [
        ("gold.csv line 5", "unknown post id"),
        ("gold.csv line 6", "unknown label 'maybe'"),
        ("gold.csv line 7", "empty 'COMMENT_ID'"),
        ("gold.csv line 10", "label 'spam' conflicts with 'ham' given at line 8"),
    ]
    assert human_labels(engine) == [(p, label, "import:gold.csv", "import", "label") for p, label in
                                    [("p0", "spam"), ("p1", "ham"), ("p2", "spam"), ("p4", "ham")]]
    with engine.connect() as conn:
        golden = dict(conn.exec_driver_sql("SELECT post_id, label FROM golden_labels WHERE task = 'youtube_spam'").all())
    assert golden == {"p0": "spam", "p1": "ham", "p2": "spam", "p4": "ham"}
    again = import_labels(path, task_path=YOUTUBE, id_column="COMMENT_ID", label_column="CLASS", progress=False)
    assert again.imported == 0 and again.skipped == 5 and len(human_labels(engine)) == 4


def test_jsonl_and_parquet_with_map_and_annotator(engine, posts, tmp_path: Path) -> None:
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text('{"id": "p0", "y": "S"}\nnot json\n\n{"id": "p1", "y": "H"}\n[1]\n')
    result = import_labels(jsonl, task_path=YOUTUBE, label_column="y", label_map=parse_map("S=spam, H=ham"),
                           annotator="alice", progress=False)
    assert (result.imported, result.rejected) == (2, 2)
    assert [r.where for r in result.rejects] == ["labels.jsonl line 2", "labels.jsonl line 5"]
    parquet = tmp_path / "labels.parquet"
    pd.DataFrame({"id": ["p0", "p2", "p9"], "label": [0, 1, 1]}).to_parquet(parquet)
    result = import_labels(parquet, task_path=YOUTUBE, annotator="alice", progress=False)
    assert result.imported == 2 and result.rejects == (Reject("labels.parquet row 3", "p9", "unknown post id"),)
    # alice changed her mind on p0 (spam -> ham): a new row, and her current label follows
    with engine.connect() as conn:
        current = dict(conn.exec_driver_sql("SELECT post_id, label FROM annotator_labels WHERE annotator = 'alice'").all())
    assert current == {"p0": "ham", "p1": "ham", "p2": "spam"}


def test_file_level_errors(engine, posts, tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_text("id,label\np0,ham\n")
    with pytest.raises(GoldloopError, match=r"gold.csv: no column 'CLASS'; columns: id, label"):
        import_labels(path, task_path=YOUTUBE, label_column="CLASS", progress=False)
    with pytest.raises(GoldloopError, match="unknown file type '.xlsx'"):
        import_labels(tmp_path / "gold.xlsx", task_path=YOUTUBE, progress=False)
    with pytest.raises(GoldloopError, match=r"--map: unknown label\(s\) \['eggs'\]"):
        import_labels(path, task_path=YOUTUBE, label_map={"1": "eggs"}, progress=False)
    with pytest.raises(GoldloopError, match="VALUE=LABEL"):
        parse_map("0:ham")
    assert human_labels(engine) == []


def test_cli_exit_status_and_json(engine, posts, tmp_path: Path) -> None:
    path = tmp_path / "gold.csv"
    path.write_text("id,label\np0,spam\np5,ham\nzz,ham\n")
    cmd = [str(REPO / "bin/import_labels.sh"), str(path), "--task", str(YOUTUBE), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    check_json(result, ImportResult, "import_labels")
    assert result["imported"] == 2 and result["rejects"] == [{"where": "gold.csv line 4", "id": "zz",
                                                             "reason": "unknown post id"}]
    done = subprocess.run(cmd[:-1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "skipped 2" in done.stdout and "gold.csv line 4: unknown post id" in done.stdout
    assert "labels went to task youtube_spam (" in done.stdout and "default task" not in done.stdout


def test_integer_labels_without_task_are_refused_and_nothing_is_written(engine, posts, tmp_path: Path) -> None:
    path = tmp_path / "Youtube05.csv"
    path.write_text("COMMENT_ID,CONTENT,CLASS\np0,check my channel,1\np1,nice song,0\n")
    cmd = [str(REPO / "bin/import_labels.sh"), str(path), "--id-column", "COMMENT_ID", "--label-column", "CLASS"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout
    assert f"error: {path} line 2: label '1' is a number" in done.stderr and "--task FILE" in done.stderr
    assert "--map 0=LABEL,1=LABEL" in done.stderr
    assert human_labels(engine) == []
    named = subprocess.run(cmd + ["--task", str(YOUTUBE), "--json"], capture_output=True, text=True, timeout=300)
    assert named.returncode == 0, named.stderr
    result = json.loads(named.stdout)
    assert (result["task"], result["task_file"], result["task_default"]) == ("youtube_spam", str(YOUTUBE), False)
    assert result["imported"] == 2


def test_the_default_task_is_named_in_text_and_json(engine, posts, tmp_path: Path) -> None:
    path = tmp_path / "ai.csv"
    path.write_text("id,label\np0,ai\np1,not_ai\np2,1\n")
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("id,label\np3,1\n")
    cmd = [str(REPO / "bin/import_labels.sh"), str(path)]
    done = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "label '1' is a number" in done.stderr  # line 4: no --task
    path.write_text("id,label\np0,ai\np1,not_ai\n")
    done = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["task"], result["task_default"], result["imported"]) == ("ai_tweets", True, 2)
    assert result["task_file"].endswith("labeling/tasks/ai_tweets.toml")
    text = subprocess.run([str(REPO / "bin/import_labels.sh"), str(mapped), "--map", "1=ai"],
                          capture_output=True, text=True, timeout=300)
    assert text.returncode == 0, text.stderr
    assert "labels went to task ai_tweets (" in text.stdout and "(the default task; choose another with --task)" \
        in text.stdout
    with engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT post_id, task FROM human_labels").all())
    assert stored == {"p0": "ai_tweets", "p1": "ai_tweets", "p3": "ai_tweets"}
