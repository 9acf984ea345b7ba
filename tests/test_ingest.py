"""Ingestion into the real embedded PostgreSQL: every format, idempotence, rejects, exit codes."""
from __future__ import annotations

import csv
import gzip
import json
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from datasets import ingest_synth, records
from datasets.errors import GoldloopError
from datasets.ingest import IngestResult, ingest_paths
from datasets.store import posts
from tests.support.results import check_json
from tests.support.sessions import child_env, wait_for_sessions_to_end

REPO = Path(__file__).resolve().parent.parent
INGEST = str(REPO / "bin" / "ingest.sh")


def _tweet(i: int, **extra) -> dict:
    tweet = {"created_at": "Sun Apr 05 10:46:44 +0000 2020", "id": 900 + i, "id_str": str(900 + i),
             "text": f"post number {i} &amp; friends", "lang": "en", "source": "<a href=\"x\">Tweetbot</a>",
             "user": {"id_str": "5", "screen_name": "alice"},
             "entities": {"hashtags": [], "urls": [], "user_mentions": []}}
    tweet.update(extra)
    return tweet


def _rows(engine: sa.Engine, where: str = "true") -> dict[str, dict]:
    with engine.connect() as conn:
        result = conn.execute(sa.text(f"SELECT * FROM raw_posts WHERE {where}"))
        return {row["id"]: dict(row) for row in result.mappings()}


def _write_lines(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return path


def test_v1_lines_and_pretty_printed_array(engine, tmp_path):
    truncated = _tweet(1, text="a truncated\u2026 https://t.co/self", truncated=True,
                       extended_tweet={"full_text": "a truncated text made whole https://t.co/a",
                                       "entities": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://a.org/"}]}})
    retweet = _tweet(2, text="RT @bob: cut\u2026", retweeted_status=_tweet(50, text="the complete original",
                                                                       user={"screen_name": "bob", "id_str": "6"}))
    lines = _write_lines(tmp_path / "v1.jsonl", [json.dumps(truncated), json.dumps(retweet)])
    array = tmp_path / "v1.json"
    array.write_text(json.dumps([_tweet(3), _tweet(4)], indent=2), encoding="utf-8")
    element_starts = [n for n, line in enumerate(array.read_text().splitlines(), start=1) if line == "  {"]

    result = ingest_paths([lines, array], progress=False)

    assert (result.read, result.inserted, result.rejected) == (4, 4, 0)
    rows = _rows(engine)
    assert rows["901"]["text"] == "a truncated text made whole https://a.org/"
    assert rows["901"]["urls"] == ["https://a.org/"] and rows["901"]["source_line"] == 1
    assert rows["902"]["text"] == "RT @bob: the complete original"
    assert rows["902"]["is_retweet"] and rows["902"]["retweeted_id"] == "950"
    assert rows["903"]["text"] == "post number 3 & friends" and rows["903"]["source_app"] == "Tweetbot"
    assert rows["904"]["source_line"] == element_starts[1]  # where the second array element starts
    assert rows["904"]["raw"]["id_str"] == "904" and rows["904"]["batch_id"] == result.batch_id
    with engine.connect() as conn:
        batch = conn.execute(sa.text("SELECT status, read, inserted FROM ingest_batches WHERE id = :b"),
                             {"b": result.batch_id}).one()
    assert tuple(batch) == ("done", 4, 4)


def test_v2_envelope_lines(engine, tmp_path):
    page = {"data": [{"id": "77", "text": "hello https://t.co/q", "author_id": "1",
                      "entities": {"urls": [{"url": "https://t.co/q", "expanded_url": "https://q.dev/"}]}}],
            "includes": {"users": [{"id": "1", "username": "v2user"}]}}
    path = _write_lines(tmp_path / "v2.jsonl", [json.dumps(page)])
    ingest_paths([path], progress=False)
    row = _rows(engine)["77"]
    assert (row["text"], row["author"], row["urls"]) == ("hello https://q.dev/", "v2user", ["https://q.dev/"])


def test_generic_jsonl_gz_with_column_flags(engine, tmp_path):
    path = _write_lines(tmp_path / "posts.jsonl.gz", [
        json.dumps({"pid": 1, "body": "generic one #tag", "ts": "2021-05-01T00:00:00+02:00"}),
        json.dumps({"pid": "two", "body": "generic two", "ts": None})])
    result = ingest_paths([path], id_column="pid", text_column="body", time_column="ts", progress=False)
    assert result.inserted == 2
    rows = _rows(engine)
    assert rows["1"]["hashtags"] == ["tag"] and rows["1"]["created_at"].isoformat() == "2021-04-30T22:00:00+00:00"
    assert rows["two"]["created_at"] is None


def test_csv_with_custom_columns_like_youtube(engine, tmp_path):
    path = tmp_path / "Youtube99-Test.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"])
        writer.writerow(["c1", "Ann", "2013-11-07T06:20:48", "check out my channel &amp; subscribe", "1"])
        writer.writerow(["c2", "Ben", "", "multi\nline, \"quoted\" comment", "0"])
        writer.writerow(["c3", "Cy", "2015-05-29T02:26:10.652000", "third", "0"])
    result = ingest_paths([path], id_column="COMMENT_ID", text_column="CONTENT", time_column="DATE",
                          author_column="AUTHOR", progress=False)
    assert (result.inserted, result.rejected) == (3, 0)
    rows = _rows(engine)
    assert rows["c1"]["text"] == "check out my channel & subscribe" and rows["c1"]["author"] == "Ann"
    assert rows["c2"]["text"] == 'multi\nline, "quoted" comment' and rows["c2"]["created_at"] is None
    assert rows["c3"]["source_line"] == 5 and rows["c3"]["raw"]["CLASS"] == "0"


def test_csv_bad_rows_are_rejected_and_good_rows_kept(engine, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"id,text\n1,fine\n2,caf\xe9 in latin-1\n3,too,many,fields\n4,also fine\n5,\n")
    rejects = tmp_path / "r.jsonl"
    result = ingest_paths([path], rejects_path=rejects, progress=False)
    assert (result.read, result.inserted, result.rejected) == (5, 2, 3)
    listed = {r["line"]: r["reason"] for r in map(json.loads, rejects.read_text().splitlines())}
    assert set(listed) == {3, 4, 6}
    assert "utf-8" in listed[3] and "expected 2 fields" in listed[4] and "empty text" in listed[6]
    latin = ingest_paths([path], encoding="latin-1", rejects_path=tmp_path / "r2.jsonl", progress=False)
    assert latin.inserted == 1 and _rows(engine)["2"]["text"] == "caf\u00e9 in latin-1"


@pytest.mark.parametrize("body, message", [("id,body\n1,hello\n", r"x\.csv: no column 'text'"),
                                           ('id,"text\n1,hello\n', r"x\.csv line 1: unreadable CSV header")])
def test_csv_header_errors_are_clear_before_any_write(engine, tmp_path, body, message):
    path = tmp_path / "x.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(GoldloopError, match=message):
        ingest_paths([path], progress=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ingest_batches")).scalar() == 0


def test_parquet(engine, tmp_path):
    path = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"id": [10, 11], "text": ["from parquet", "second row"],
                             "created_at": pa.array([1_600_000_000_000, None], pa.timestamp("ms", tz="UTC")),
                             "score": [0.5, float("nan")]}), path)
    result = ingest_paths([path], progress=False)
    assert result.inserted == 2
    rows = _rows(engine)
    assert rows["10"]["created_at"].isoformat() == "2020-09-13T12:26:40+00:00"
    assert rows["11"]["raw"]["score"] is None and rows["11"]["source_line"] == 2


def test_idempotent_and_duplicates_within_and_across_runs(engine, tmp_path):
    path = _write_lines(tmp_path / "dups.jsonl", [json.dumps(_tweet(i % 3, text=f"version {i}")) for i in range(5)])
    first = ingest_paths([path], batch_size=2, progress=False)
    assert (first.read, first.inserted, first.duplicates) == (5, 3, 2)
    assert _rows(engine)["900"]["text"] == "version 0"  # the first occurrence wins
    second = ingest_paths([path], progress=False)
    assert (second.read, second.inserted, second.duplicates) == (5, 0, 5)


def test_mixed_good_and_broken_file_via_cli(engine, tmp_path):
    good = [json.dumps(_tweet(i)) for i in range(4)]
    lines = [
        good[0].encode(),
        b'{"id_str": "1", "text": "unterminated',                       # 2 invalid JSON
        json.dumps(_tweet(10, text=12345)).encode(),                     # 3 text is a number
        good[1].encode(),
        json.dumps(_tweet(11, id_str={"x": 1})).encode(),                # 5 id is an object
        json.dumps(_tweet(12, text="")).encode(),                        # 6 empty text
        b'{"id_str": "13", "user": {}, "text": "caf\xe9 latin-1"}',      # 7 not UTF-8
        good[2].encode(),
        json.dumps(_tweet(14, created_at="not a date")).encode(),        # 9 bad timestamp: stored, no time
        json.dumps(_tweet(15, text="x" * 60_000)).encode(),              # 10 oversized text
        b'[1, 2]',                                                       # 11 not an object
        b'{"delete": {"status": {"id": 1}}}',                            # 12 stream notice
        good[3].encode(),
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.jsonl"

    proc = subprocess.run([INGEST, str(path), "--rejects", str(rejects), "--json"], capture_output=True, text=True)

    assert proc.returncode == 2, proc.stderr
    result = json.loads(proc.stdout)
    check_json(result, IngestResult, "ingest")
    assert (result["read"], result["inserted"], result["rejected"]) == (13, 5, 8)
    rows = _rows(engine)
    assert set(rows) == {"900", "901", "902", "903", "914"} and rows["914"]["created_at"] is None
    assert result["time_warnings"] == 1 and result["time_warning_example"] == {
        "file": str(path), "line": 9, "warning": "unreadable timestamp in 'created_at': 'not a date'"}
    listed = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in listed] == [2, 3, 5, 6, 7, 10, 11, 12]
    assert all(r["file"] == str(path) and r["reason"] and "snippet" in r for r in listed)
    reasons = {r["line"]: r["reason"] for r in listed}
    assert "invalid JSON" in reasons[2] and "number" in reasons[3] and "object" in reasons[5]
    assert "empty text" in reasons[6] and "utf-8" in reasons[7]
    assert "longer than" in reasons[10] and "delete" in reasons[12]


def test_broken_array_element_skipped_and_reported(engine, tmp_path):
    body = json.dumps([_tweet(1)], indent=2)[:-2] + ',\n  {"id_str": "5", "text": broken},\n' + \
        json.dumps([_tweet(2)], indent=2)[1:]
    path = tmp_path / "broken.json"
    path.write_text(body, encoding="utf-8")
    rejects = tmp_path / "r.jsonl"
    result = ingest_paths([path], rejects_path=rejects, progress=False)
    assert (result.inserted, result.rejected) == (2, 1)
    assert json.loads(rejects.read_text())["reason"].startswith("invalid JSON")


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing.jsonl", "missing.jsonl: no such file"),
    (lambda p: (p / "notes.txt").write_text("just text") and p / "notes.txt", "notes.txt: unknown format"),
    (lambda p: (p / "bad.gz").write_bytes(b"\x1f\x8b\x08garbage") and p / "bad.gz", "bad.gz: cannot read"),
])
def test_unusable_file_exits_1_and_writes_nothing(engine, tmp_path, make, message):
    good = _write_lines(tmp_path / "good.jsonl", [json.dumps(_tweet(1))])
    proc = subprocess.run([INGEST, str(good), str(make(tmp_path))], capture_output=True, text=True)
    assert proc.returncode == 1
    assert message in proc.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar() == 0


def test_corrupt_gzip_midway_names_the_file_and_keeps_whole_batches(engine, tmp_path):
    whole = ingest_synth.write_jsonl_gz(tmp_path / "whole.jsonl.gz", 3000)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(GoldloopError, match="cut.jsonl.gz: cannot read"):
        ingest_paths([cut], batch_size=500, progress=False)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar()
        status = conn.execute(sa.text("SELECT status FROM ingest_batches")).scalar()
    assert stored % 500 == 0 and status == "failed"


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, status", [(signal.SIGKILL, -9, "running"), (signal.SIGINT, 130, "failed")])
def test_interrupted_load_leaves_whole_batches_and_rerun_completes(engine, tmp_path, sig, code, status):
    total, batch = 20_000, 500
    path = ingest_synth.write_jsonl_gz(tmp_path / "big.jsonl.gz", total)
    proc = subprocess.Popen([INGEST, str(path), "--batch-size", str(batch), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    count = 0
    with engine.connect() as conn:
        for _ in range(600):
            count = conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar()
            if count >= 3 * batch or proc.poll() is not None:
                break
            conn.rollback()
            time.sleep(0.1)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    assert 0 < count < total, "the load finished before it could be interrupted"
    wait_for_sessions_to_end(engine)  # a batch whose COMMIT was sent still lands
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar()
        counted = conn.execute(sa.text("SELECT sum(inserted), min(status) FROM ingest_batches")).one()
    assert stored % batch == 0 and stored < total
    assert tuple(counted) == (stored, status)  # the counts committed with each batch match the rows

    result = ingest_paths([path], batch_size=batch, progress=False)
    assert (result.inserted, result.duplicates) == (total - stored, stored)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(DISTINCT id) FROM raw_posts")).scalar() == total


def test_a_row_postgresql_refuses_is_rejected_alone_and_its_batch_kept(engine):
    """What the record checks let through (here a 31 February) PostgreSQL refuses: the batch is
    halved until that row stands alone, and the good rows around it are stored."""
    good = [records.Post(id=str(i), created_at="2020-04-05T10:00:00+00:00", text=f"post {i}", lang="en",
                         author=None, author_id=None, source_app=None, is_retweet=False, retweeted_id=None,
                         hashtags=[], mentions=[], urls=[], media_urls=[], raw="{}") for i in range(7)]
    bad = good[0]._replace(id="bad", created_at="2020-02-31T10:00:00+00:00")
    rows = [posts.staged(seq, post, "f.jsonl", seq + 1) for seq, post in enumerate(good[:3] + [bad] + good[3:])]
    batch = posts.IngestBatch(engine, ["f.jsonl"], {})
    try:
        inserted, duplicates, refused = batch.write(rows, read=8, rejected=0)
    finally:
        batch.finish("done")
    assert (inserted, duplicates) == (7, 0)
    assert [(item.row.id, item.row.source_line) for item in refused] == [("bad", 4)]
    assert refused[0].reason.startswith("refused by PostgreSQL: ERROR:  date/time field value out of range")
    with engine.connect() as conn:
        counts = conn.execute(sa.text("SELECT read, inserted, duplicates, rejected, status FROM ingest_batches")).one()
    assert tuple(counts) == (8, 7, 0, 1, "done")
