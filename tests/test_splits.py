"""Versioned splits: seeded draws, dedup on normalized text, assignment, language filter,
parquet schema and immutability, on a real PostgreSQL."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from datasets import split_files, splits
from datasets.errors import GoldloopError
from datasets.normalize import norm_hash, normalize_text
from datasets.store import versions
from tests.support.results import check_json

REPO_ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2020, 4, 5, 12, 0, tzinfo=timezone.utc)


def insert_posts(engine: sa.engine.Engine, posts: list[dict]) -> None:
    """Insert raw posts directly (ingestion is tested elsewhere); missing fields get defaults."""
    rows = [{"created_at": T0, "lang": "en", "author": "someone", "source_app": "Twitter Web App",
             "is_retweet": False, "retweeted_id": None, "hashtags": [], "mentions": [], "urls": [],
             "media_urls": [], **post} for post in posts]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO raw_posts (id, text, created_at, lang, author, source_app, is_retweet,"
            " retweeted_id, hashtags, mentions, urls, media_urls) VALUES (:id, :text, :created_at, :lang,"
            " :author, :source_app, :is_retweet, :retweeted_id, :hashtags, :mentions, :urls, :media_urls)"),
            rows)


def distinct_posts(n: int, start: int = 1000, lang: str = "en") -> list[dict]:
    """``n`` posts with distinct texts and increasing ids and times."""
    return [{"id": str(start + i), "text": f"post number {start + i} about topic {i % 7}", "lang": lang,
             "created_at": T0 + timedelta(minutes=i)} for i in range(n)]


def membership(engine: sa.engine.Engine, version: int) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT post_id, split FROM split_members WHERE version = :v"),
                                 {"v": version}).all())


@pytest.mark.parametrize("a, b", [
    ("RT @data_nerd: Gradient boosting wins again", "Gradient boosting wins again"),
    ("RT @a: RT @b_2: nested retweet", "nested retweet"),
    ("New post https://t.co/abc123 read it", "new post read it"),
    ("New post http://example.com/x?utm=1 read it", "New post www.example.com/y read it"),
    ("  Deep   LEARNING\n is\tfun ", "deep learning is fun"),
    ("R&amp;D budget", "R&D budget"),
    ("Ｆｕｌｌ width", "full width"),
    ("Read this… https://t.co/x", "read this"),
])
def test_normalization_equates_copies(a: str, b: str) -> None:
    assert normalize_text(a) == normalize_text(b)
    assert norm_hash(a) == norm_hash(b)


@pytest.mark.parametrize("a, b", [
    ("I love C++", "I love C"),
    ("version 3.5", "version 35"),
    ("is it fast?", "is it fast"),
    ("ART @home: paintings", "paintings"),
])
def test_normalization_keeps_meaningful_differences(a: str, b: str) -> None:
    assert normalize_text(a) != normalize_text(b)


def test_sizes_disjointness_and_determinism(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(120))
    first = splits.create_version(engine, test=10, dev=5, lf=30, seed=3, progress=False)
    assert first.counts == {"test": 10, "dev": 5, "lf": 30, "train": 75}
    assert first.source_posts == 120 and first.duplicates_dropped == 0
    frames = {s: split_files.read_split(first.version, s) for s in split_files.SPLITS}
    assert {s: len(f) for s, f in frames.items()} == first.counts
    ids = [set(f["id"]) for f in frames.values()]
    hashes = [set(f["norm_hash"]) for f in frames.values()]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not ids[i] & ids[j] and not hashes[i] & hashes[j]
    assert set().union(*ids) == {str(1000 + i) for i in range(120)}

    again = splits.create_version(engine, test=10, dev=5, lf=30, seed=3, progress=False)
    other = splits.create_version(engine, test=10, dev=5, lf=30, seed=4, progress=False)
    assert again.version == first.version + 1
    assert membership(engine, again.version) == membership(engine, first.version)
    assert membership(engine, other.version) != membership(engine, first.version)
    with engine.connect() as conn:
        assert versions.resolve(conn, None) == other.version


def test_dedup_keeps_one_preferred_copy(engine: sa.engine.Engine) -> None:
    posts = distinct_posts(40)
    posts += [
        {"id": "501", "text": "RT @orig: Transformers beat RNNs on this benchmark", "is_retweet": True,
         "retweeted_id": "500", "created_at": T0 - timedelta(days=2)},
        {"id": "500", "text": "Transformers beat RNNs on this benchmark https://t.co/aaa",
         "created_at": T0 - timedelta(days=1)},
        {"id": "499", "text": "transformers  beat RNNs on this benchmark https://t.co/bbb",
         "created_at": T0},
        {"id": "600", "text": "same time copy"}, {"id": "60", "text": "Same time copy"},
    ]
    insert_posts(engine, posts)
    result = splits.create_version(engine, test=5, dev=5, lf=5, seed=0, progress=False)
    assert result.duplicates_dropped == 3 and result.source_posts == 45
    assert sum(result.counts.values()) == 42
    members = membership(engine, result.version)
    assert "500" in members and "499" not in members and "501" not in members  # original, earliest
    assert "60" in members and "600" not in members  # smallest id in numeric order


def test_too_small_names_the_numbers(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(30) + [{"id": "9", "text": "POST number 1000 about topic 0"}])
    with pytest.raises(GoldloopError, match=r"need test 20 \+ dev 5 \+ lf 6 = 31 posts but only 30 .*"
                                            r"31 posts, 1 duplicates dropped"):
        splits.create_version(engine, test=20, dev=5, lf=6, progress=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dataset_versions")).scalar() == 0


def test_resolve_takes_the_given_version_or_the_newest(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(30))
    with engine.connect() as conn, pytest.raises(GoldloopError, match="no data-set version yet; run bin/split.sh"):
        versions.resolve(conn, None)
    first = splits.create_version(engine, test=5, dev=5, lf=5, progress=False).version
    second = splits.create_version(engine, test=5, dev=5, lf=5, seed=1, progress=False).version
    with engine.connect() as conn:
        assert (versions.resolve(conn, None), versions.resolve(conn, first)) == (second, first)
        with pytest.raises(GoldloopError, match=f"data-set version {second + 1} does not exist; see bin/split.sh"):
            versions.resolve(conn, second + 1)


def test_language_filter(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(20, start=100, lang="en") + distinct_posts(15, start=200, lang="fr")
                 + distinct_posts(10, start=300, lang="de") + [{"id": "999", "text": "no language", "lang": None}])
    result = splits.create_version(engine, test=3, dev=2, lf=5, lang=["fr", "de"], progress=False)
    assert result.source_posts == 25 and result.lang == ("de", "fr")
    langs = pd.concat([split_files.read_split(result.version, s) for s in split_files.SPLITS])["lang"]
    assert set(langs) == {"fr", "de"} and len(langs) == 25


def test_assign_forms_exact_split_and_wins_dedup(engine: sa.engine.Engine, tmp_path: Path) -> None:
    posts = distinct_posts(50, lang="en") + [
        {"id": "7001", "text": "fixed benchmark item one", "lang": "es"},
        {"id": "7002", "text": "fixed benchmark item two"},
        {"id": "7003", "text": "RT @x: fixed benchmark item three", "is_retweet": True},
        {"id": "10", "text": "Fixed benchmark item three"},  # unassigned original copy: assigned wins
    ]
    insert_posts(engine, posts)
    ids = tmp_path / "ids.csv"
    ids.write_text("author,id\nx,7001\ny,7002\n\nz,7003\n")
    result = splits.create_version(engine, test=99, dev=5, lf=10, seed=1, lang=["en"],
                                   assign={"test": ids}, progress=False)
    test_ids = set(split_files.read_split(result.version, "test")["id"])
    assert test_ids == {"7001", "7002", "7003"}
    assert result.counts == {"test": 3, "dev": 5, "lf": 10, "train": 35}
    assert "10" not in membership(engine, result.version)

    plain = tmp_path / "plain.txt"
    plain.write_text("1000\n1001\n")
    result = splits.create_version(engine, test=0, dev=1, lf=1, assign={"lf": plain}, progress=False)
    assert set(split_files.read_split(result.version, "lf")["id"]) == {"1000", "1001"}


@pytest.mark.parametrize("content, header", [
    ("tweet_id\n1000\n1001\n", "tweet_id"),             # a one-column file with any header name
    ("Post ID\r\n1000\r\n1001\r\n", "Post ID"),
    ("COMMENT_ID,CLASS\n1000,1\n1001,0\n", "COMMENT_ID"),  # several columns: the one ending in 'id'
    ("label,ID,tweet_id\nx,1000,9\ny,1001,9\n", "ID"),     # 'id' itself wins
    ("1000\n1001\n", None),                               # no header: a number is an id
    ("abc\n1000\n1001\n", None),                         # no header: the first line is a stored post's id
])
def test_assign_file_headers(engine: sa.engine.Engine, tmp_path: Path, content: str, header: str | None) -> None:
    insert_posts(engine, distinct_posts(20) + [{"id": "abc", "text": "a post whose id is not a number"}])
    ids = tmp_path / "ids.csv"
    ids.write_text(content, newline="")
    result = splits.create_version(engine, test=1, dev=1, lf=1, assign={"test": ids}, progress=False)
    expected = {"1000", "1001"} | ({"abc"} if content.startswith("abc") else set())
    assert set(split_files.read_split(result.version, "test")["id"]) == expected
    assert result.assigned["test"].header == header and result.assigned["test"].ids == len(expected)


def test_assign_with_a_tweet_id_header_via_cli(engine: sa.engine.Engine, tmp_path: Path) -> None:
    insert_posts(engine, distinct_posts(30))
    ids = tmp_path / "ids.csv"
    ids.write_text("tweet_id\n1003\n1004\n1005\n")
    done = subprocess.run([REPO_ROOT / "bin/split.sh", "--test", "1", "--dev", "2", "--lf", "3",
                           "--assign", f"test={ids}", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["test"] == 3 and result["assigned"]["test"]["header"] == "tweet_id"
    assert set(result["assigned"]["test"]) == {"file", "header", "ids", "kept"}  # docs/datasets.md
    assert set(split_files.read_split(result["version"], "test")["id"]) == {"1003", "1004", "1005"}
    ids.write_text("tweet_id\n1003\n1004\nbogus-id\n")
    bad = subprocess.run([REPO_ROOT / "bin/split.sh", "--assign", f"test={ids}"], capture_output=True, text=True)
    assert bad.returncode == 1 and f"error: {ids} line 4: unknown post id 'bogus-id'" in bad.stderr


@pytest.mark.parametrize("content, message", [
    ("id\n1000\nnope\n", r"ids.csv line 3: unknown post id 'nope'"),
    ("999999\n1000\n", r"ids.csv line 1: unknown post id '999999'"),  # a number is never a header
    ("a,b\n1,2\n", r"ids.csv line 1: no 'id' column"),
    ("tweet_id\n1000\n1001,x\n", r"ids.csv line 3: expected one id per line, found 2 columns"),
    ("id,x\n1000,a\n,b\n", r"ids.csv line 3: empty id"),
    ("tweet_id\n", r"ids.csv: no ids \(only the header 'tweet_id'\)"),
    ("", r"ids.csv: no ids"),
])
def test_assign_file_errors(engine: sa.engine.Engine, tmp_path: Path, content: str, message: str) -> None:
    insert_posts(engine, distinct_posts(20))
    ids = tmp_path / "ids.csv"
    ids.write_text(content)
    with pytest.raises(GoldloopError, match=message):
        splits.create_version(engine, test=1, dev=1, lf=1, assign={"test": ids}, progress=False)


def test_assigned_copies_in_two_splits_are_refused(engine: sa.engine.Engine, tmp_path: Path) -> None:
    insert_posts(engine, distinct_posts(20) + [{"id": "1", "text": "Same words"}, {"id": "2", "text": "same words"}])
    (tmp_path / "a.txt").write_text("1\n")
    (tmp_path / "b.txt").write_text("2\n")
    with pytest.raises(GoldloopError, match="copies of each other"):
        splits.create_version(engine, test=1, dev=1, lf=1, progress=False,
                              assign={"test": tmp_path / "a.txt", "dev": tmp_path / "b.txt"})


def test_parquet_schema_and_content(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(10) + [{
        "id": "77", "text": "RT @ml: Big news &amp; more https://example.com/a", "lang": "en", "author": "bob",
        "source_app": "Twitter for iPhone", "is_retweet": True, "retweeted_id": "76",
        "hashtags": ["AI", "ML"], "mentions": ["ml"], "urls": ["https://example.com/a"],
        "media_urls": ["https://pbs.example.com/1.jpg"],
        "created_at": datetime(2020, 4, 5, 14, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2)))}])
    result = splits.create_version(engine, test=2, dev=2, lf=2, seed=5, progress=False)
    version = result.version
    for split in split_files.SPLITS:
        path = split_files.split_path(version, split)
        assert path == Path(result.export_dir) / f"{split}.parquet"
        assert pq.read_schema(path).equals(split_files.SCHEMA, check_metadata=False)
    frame = pd.concat([split_files.read_split(version, s) for s in split_files.SPLITS])
    row = frame.set_index("id").loc["77"]
    assert row["text"] == "RT @ml: Big news &amp; more https://example.com/a"
    assert row["created_at"] == pd.Timestamp("2020-04-05 12:30:01.123456", tz="UTC")
    assert (row["author"], row["source_app"], row["is_retweet"], row["retweeted_id"]) == (
        "bob", "Twitter for iPhone", True, "76")
    assert list(row["hashtags"]) == ["AI", "ML"] and list(row["mentions"]) == ["ml"]
    assert list(row["urls"]) == ["https://example.com/a"] and list(row["media_urls"]) == ["https://pbs.example.com/1.jpg"]
    assert row["norm_hash"] == norm_hash(row["text"]) and row["version"] == version
    assert row["split"] == membership(engine, version)["77"]
    assert frame["split"].value_counts().to_dict() == {k: v for k, v in result.counts.items() if v}


def test_versions_are_immutable(engine: sa.engine.Engine) -> None:
    insert_posts(engine, distinct_posts(30))
    first = splits.create_version(engine, test=3, dev=3, lf=3, progress=False)
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(first.export_dir).iterdir()}
    insert_posts(engine, distinct_posts(10, start=5000))
    second = splits.create_version(engine, test=3, dev=3, lf=3, progress=False)
    assert second.version == first.version + 1 and second.export_dir != first.export_dir
    assert second.counts["train"] == first.counts["train"] + 10
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in Path(first.export_dir).iterdir()}
    assert after == before and sorted(before) == [f"{s}.parquet" for s in sorted(split_files.SPLITS)]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version, counts, params, export_dir FROM dataset_versions"
                                    " ORDER BY version")).all()
    assert [r.counts for r in rows] == [first.counts, second.counts]
    assert rows[0].params["seed"] == 0 and rows[0].export_dir == first.export_dir


def test_failure_leaves_nothing_behind(engine: sa.engine.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    insert_posts(engine, distinct_posts(30))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(split_files, "write_split", broken)
    with pytest.raises(OSError, match="disk full"):
        splits.create_version(engine, test=3, dev=3, lf=3, progress=False)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dataset_versions")).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM split_members")).scalar() == 0
    datasets_dir = Path(__import__("os").environ["GOLDLOOP_HOME"]) / "datasets"
    assert not datasets_dir.exists() or list(datasets_dir.iterdir()) == []


def test_cli_json_and_errors(engine: sa.engine.Engine, tmp_path: Path) -> None:
    insert_posts(engine, distinct_posts(40))
    done = subprocess.run([REPO_ROOT / "bin/split.sh", "--test", "4", "--dev", "3", "--lf", "5", "--seed", "7",
                           "--json"], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    check_json(result, splits.SplitResult, "split")
    assert result["counts"] == {"test": 4, "dev": 3, "lf": 5, "train": 28} and result["version"] == 1
    assert membership(engine, 1) == membership(engine, splits.create_version(
        engine, test=4, dev=3, lf=5, seed=7, progress=False).version)

    failed = subprocess.run([REPO_ROOT / "bin/split.sh", "--test", "100", "--quiet"], capture_output=True, text=True)
    assert failed.returncode == 1
    assert "error: not enough posts" in failed.stderr and "need test 100 + dev 500 + lf 10000" in failed.stderr
    bad = subprocess.run([REPO_ROOT / "bin/split.sh", "--assign", "train=x.csv"], capture_output=True, text=True)
    assert bad.returncode == 1 and "can assign test, dev, lf only" in bad.stderr
