"""``bin/classify.sh --engine spark`` against the default engine on the same small data (Spark
``local[2]``, real PostgreSQL, a real promoted model): the same stored predictions and links by
version, split and time, the same output file and rejects from files, re-runs and resumption
that classify nothing twice, and the engine options refused with a clear message.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from datasets import readers, records
from datasets.errors import GoldloopError
from models import classify, classify_spark
from models.production import load_production
from tests import test_classify, test_spark_parity
from tests.support.feeds import drop, tweet
from tests.test_classify import _run
from tests.test_spark_parity import MASTER

pytestmark = pytest.mark.spark
world = test_classify.world  # fixture: a task with a trained run in production
spark_session = test_spark_parity.spark_session  # fixture: the module's Spark session
COLUMNS = records.Columns(id="id", text="text", time="created_at", author="author", time_format=None)


def _stored(engine: sa.Engine) -> tuple[dict, list, list]:
    """The production predictions (without their write time) and the URL store."""
    with engine.connect() as conn:
        found = {row.post_id: (row.label, row.confidence, row.probs, row.run_ref, row.version) for row in conn.execute(
            sa.text("SELECT post_id, label, confidence, probs, run_ref, version FROM predictions"
                    " WHERE source = 'production'"))}
        pairs = conn.execute(sa.text("SELECT post_id, url FROM post_urls ORDER BY 1, 2")).all()
        links = conn.execute(sa.text("SELECT url, domain, is_media, first_seen, last_seen, n_posts FROM urls"
                                     " ORDER BY url")).all()
    return found, pairs, links


def _forget(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM predictions WHERE source = 'production'"))
        conn.execute(sa.text("TRUNCATE post_urls, urls"))


def test_stored_posts_by_split_version_and_time_as_the_default_engine(engine, world, spark_session):
    task, version = world.world.task, world.world.version
    total = len(world.world.truth)
    with engine.begin() as conn:  # recent posts outside the version, with links: --since's share
        conn.execute(sa.text("INSERT INTO raw_posts (id, text, created_at, urls) VALUES (:id, :text, now(), :urls)"),
                     [{"id": f"r{i}", "text": "subscribe to my channel" if i % 2 else "love this song",
                       "urls": [f"https://example.org/{i % 3}"]} for i in range(9)])
    model = load_production(engine, task)
    since = datetime(2000, 1, 1, tzinfo=UTC)

    def run(master: str | None, **scope) -> classify.ClassifyResult:
        scope = {"version": None, "split": None, "since": None, **scope}
        return classify.classify_store(engine, model, **scope, batch_size=7, progress=False, master=master)

    assert run(None, version=version).classified == total
    by_version = _stored(engine)
    assert run(None, since=since).classified == 160 - total + 9
    by_time = _stored(engine)
    assert len(by_time[1]) == 9 and by_time[2]
    _forget(engine)

    first = run(MASTER, version=version, split="test")
    assert (first.classified, first.skipped, first.run_id) == (40, 0, world.runs[0])
    whole = run(MASTER, version=version)
    assert (whole.classified, whole.skipped) == (total - 40, 40)
    assert _stored(engine) == by_version
    assert (run(MASTER, version=version).classified, run(MASTER, version=version).skipped) == (0, total)
    recent = run(MASTER, since=since)
    assert (recent.classified, recent.skipped) == (160 - total + 9, total)
    assert _stored(engine) == by_time
    again = run(MASTER, since=since)
    assert (again.classified, again.skipped) == (0, 160 + 9)


def test_files_give_the_same_output_and_rejects_and_resume(engine, world, tmp_path, spark_session, monkeypatch):
    feed = drop(tmp_path, "feed.jsonl", [tweet(i, links=[f"https://example.org/{i}"],
                                               text="subscribe to my channel" if i % 3 else "love this song")
                                         for i in range(40)] + ["{broken"] + [tweet(i) for i in range(40, 60)]
                + ['{"id": "e1", "text": ""}'])
    table = tmp_path / "more.csv"
    pd.DataFrame({"id": ["x1", "x2", "x3"], "text": ["free money subscribe", "best music ever", ""]}).to_csv(
        table, index=False)
    model = load_production(engine, world.world.task)

    def run(out: Path, master: str | None) -> classify.ClassifyResult:
        return classify.classify_files(model, [feed, table], out, columns=COLUMNS, batch_size=6, restart=False,
                                       rejects_path=out.with_suffix(".rejects.jsonl"), progress=False, master=master)

    default = run(tmp_path / "default.parquet", None)
    monkeypatch.setattr(classify_spark, "PART_BYTES", 2000)  # the JSON lines file in several parts
    assert len(readers.open_source(feed).parts(classify_spark.PART_BYTES)) > 4
    on_spark = run(tmp_path / "spark.parquet", MASTER)
    expected = pd.read_parquet(tmp_path / "default.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "spark.parquet"), expected)
    assert len(expected) == 62 and expected["id"].iloc[-1] == "x2"
    assert (on_spark.classified, on_spark.skipped, on_spark.rejected) == (default.classified, 0, 3) == (62, 0, 3)
    rejects = _rejects(on_spark)
    assert rejects == _rejects(default)
    assert [(r["file"], r["line"]) for r in rejects] == [(str(feed), 41), (str(feed), 62), (str(table), 4)]
    assert not Path(on_spark.rejects_file + ".parts").exists() and not (tmp_path / "spark.parquet.parts").exists()

    # interrupted once every part was written: the re-run predicts nothing and joins the same rows
    real_join = classify._join
    monkeypatch.setattr(classify, "_join", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed.csv", MASTER)
    monkeypatch.setattr(classify, "_join", real_join)
    resumed = run(tmp_path / "resumed.csv", MASTER)
    assert (resumed.classified, resumed.skipped, resumed.rejected) == (0, 62, 3)
    got = pd.read_csv(tmp_path / "resumed.csv", dtype={"id": str})
    assert got["id"].tolist() == expected["id"].tolist() and got["label"].tolist() == expected["label"].tolist()

    # the default engine does not take up Spark's parts (cut differently)
    monkeypatch.setattr(classify, "_join", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "mixed.parquet", MASTER)
    monkeypatch.setattr(classify, "_join", real_join)
    with pytest.raises(GoldloopError, match="--restart"):
        run(tmp_path / "mixed.parquet", None)


def _interrupt(*args: object) -> None:
    raise KeyboardInterrupt


def _rejects(result: classify.ClassifyResult) -> list[dict]:
    return [json.loads(line) for line in Path(result.rejects_file).read_text(encoding="utf-8").splitlines()]


def test_cli_engine_spark_and_bad_options(engine, world):
    task, version = world.world.task, world.world.version
    done = _run("--task", str(task.path), "--version", str(version), "--engine", "spark", "--master", MASTER,
                "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {f.name for f in classify.ClassifyResult.__dataclass_fields__.values()}
    assert (printed["classified"], printed["skipped"], printed["run_id"]) == (len(world.world.truth), 0,
                                                                              world.runs[0])
    for args, message in ((["--master", MASTER], "--master needs --engine spark"),
                          (["--engine", "spark", "--master", "mesos://x"], "--master: 'mesos://x'"),
                          (["--engine", "spark", "--master", "local[0]"], "--master: 'local[0]'"),
                          (["--engine", "flink"], "--engine")):
        bad = _run("--task", str(task.path), "--version", str(version), *args)
        assert bad.returncode != 0 and message in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
