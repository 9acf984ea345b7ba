"""bin/classify.sh on real PostgreSQL, real files and a real promoted model: stored posts by
version, split or time, files into parquet/CSV/JSON lines, resumption after an interruption,
and refusals of bad input naming the option or file."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from datasets import records
from models import classify
from models.production import load_production
from tests.support.feeds import drop, promote, tweet
from tests.support.registry import train_runs

CLASSIFY = str(Path(__file__).resolve().parent.parent / "bin" / "classify.sh")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLASSIFY, "--quiet", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def world(engine, tmp_path):
    trained = train_runs(engine, tmp_path, n=1)
    promote(engine, trained.world.task.name, trained.runs[0])
    return trained


def test_stored_posts_by_split_then_version_resume_where_they_stopped(engine, world):
    task, version = world.world.task, world.world.version
    total = len(world.world.truth)  # the version's posts (near-duplicate texts are left out of it)
    first = _run("--task", str(task.path), "--version", str(version), "--split", "test", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["classified"] == 40
    # a run over the whole version skips the posts already predicted by the same run
    whole = json.loads(_run("--task", str(task.path), "--version", str(version), "--json", "--batch-size", "7").stdout)
    assert whole["classified"] == total - 40 and whole["skipped"] == 40 and whole["run_id"] == world.runs[0]
    again = json.loads(_run("--task", str(task.path), "--version", str(version), "--json").stdout)
    assert again["classified"] == 0 and again["skipped"] == total
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT p.post_id, p.label, p.run_ref, p.probs FROM predictions p"
                                    " WHERE p.task = :t AND p.source = 'production'"), {"t": task.name}).all()
    texts = dict(zip(world.world.truth["id"], world.world.truth["text"]))
    model = load_production(engine, task)
    expected = model.predict_proba([texts[r.post_id] for r in rows]).argmax(axis=1)
    assert len(rows) == total and {r.run_ref for r in rows} == {str(world.runs[0])}
    assert [r.label for r in rows] == [model.labels[i] for i in expected]  # the production model's own answers
    assert all(abs(sum(r.probs.values()) - 1) < 1e-3 for r in rows)
    # --since picks stored posts by time: these have none, so their storage time counts
    recent = json.loads(_run("--task", str(task.path), "--since", "1h", "--json").stdout)
    assert recent["classified"] == 160 - total and recent["skipped"] == total


def test_files_into_each_format_and_an_interrupted_run_resumes(engine, world, tmp_path, monkeypatch):
    task = world.world.task
    feed = drop(tmp_path, "feed.jsonl", [tweet(i, text="subscribe to my channel" if i % 2 else "love this song")
                                         for i in range(23)] + ["{broken"])
    table = tmp_path / "more.csv"
    pd.DataFrame({"post": ["x1", "x2"], "body": ["free money subscribe", "best music ever"]}).to_csv(table, index=False)
    model = load_production(engine, task)
    columns = records.Columns(id="id", text="text", time="created_at", author="author", time_format=None)
    out = tmp_path / "labels.parquet"

    calls = {"n": 0}
    real_rows = classify._rows

    def interrupted(model, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_rows(model, chunk)

    monkeypatch.setattr(classify, "_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        classify.classify_files(model, [feed], out, columns=columns, batch_size=5, restart=False,
                                rejects_path=tmp_path / "rejects.jsonl", progress=False)
    assert not out.exists() and len(list((tmp_path / "labels.parquet.parts").glob("part-*"))) == 2
    monkeypatch.setattr(classify, "_rows", real_rows)

    resumed = _run("--task", str(task.path), str(feed), "--out", str(out), "--batch-size", "5", "--json",
                   "--rejects", str(tmp_path / "rejects.jsonl"))
    assert resumed.returncode == 2, resumed.stderr  # one record rejected
    summary = json.loads(resumed.stdout)
    assert summary["skipped"] == 10 and summary["classified"] == 13 and summary["rejected"] == 1
    assert json.loads((tmp_path / "rejects.jsonl").read_text())["line"] == 24
    assert not (tmp_path / "labels.parquet.parts").exists()
    frame = pd.read_parquet(out)
    assert frame["id"].tolist() == [str(1000 + i) for i in range(23)]
    assert list(frame.columns) == ["id", "text", "label", "confidence", "p_ham", "p_spam"]
    assert frame["label"].tolist() == [model.labels[i] for i in model.predict_proba(frame["text"]).argmax(axis=1)]
    np.testing.assert_allclose(frame["p_ham"] + frame["p_spam"], 1, atol=1e-3)
    fresh = tmp_path / "fresh.parquet"
    assert _run("--task", str(task.path), str(feed), "--out", str(fresh), "--batch-size", "5").returncode == 2
    pd.testing.assert_frame_equal(pd.read_parquet(fresh), frame)

    for name in ("labels.csv", "labels.jsonl"):
        done = _run("--task", str(task.path), str(table), "--out", str(tmp_path / name), "--id-column", "post",
                    "--text-column", "body", "--json")
        assert done.returncode == 0, done.stderr
        got = (pd.read_csv(tmp_path / name, dtype={"id": str}) if name.endswith(".csv")
               else pd.read_json(tmp_path / name, lines=True, dtype={"id": str}))
        assert got["id"].tolist() == ["x1", "x2"] and set(got["label"]) <= set(task.labels)
        np.testing.assert_allclose(got[["p_ham", "p_spam"]].to_numpy(), model.predict_proba(got["text"]), atol=1e-5)


def test_bad_input_is_refused_naming_what_is_wrong(engine, world, tmp_path):
    task = world.world.task
    feed = drop(tmp_path, "feed.jsonl", [tweet(1)])
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("id,body\n1,hello\n")
    parts = tmp_path / "x.parquet.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text("{}")
    cases = [([], "nothing to classify"),
             (["--version", "1", str(feed), "--out", str(tmp_path / "x.csv")], "not both"),
             (["--split", "test", "--since", "1d"], "--split needs --version"),
             ([str(feed)], "--out"),
             ([str(feed), "--out", str(tmp_path / "x.xlsx")], "--out"),
             (["--version", "99"], "version 99 does not exist"),
             (["--since", "soon"], "--since"),
             (["--version", "1", "--split", "holdout"], "--split"),
             (["--batch-size", "0", "--version", "1"], "--batch-size"),
             ([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "y.csv")], "missing.jsonl: no such file"),
             ([str(no_text), "--out", str(tmp_path / "y.csv")], "text"),
             ([str(feed), "--out", str(tmp_path / "x.parquet")], "--restart"),
             (["--version", "1", "--run", "999"], "run 999 does not exist")]
    for args, expected in cases:
        done = _run("--task", str(task.path), *args)
        assert done.returncode == 1, (args, done.stdout)
        assert expected in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)
    empty_text = tmp_path / "empty_text.csv"
    empty_text.write_text("id,text\n1,hello there\n2,\n")
    partial = _run("--task", str(task.path), str(empty_text), "--out", str(tmp_path / "z.jsonl"), "--json",
                   "--rejects", str(tmp_path / "z_rejects.jsonl"))
    assert partial.returncode == 2, partial.stderr
    assert json.loads(partial.stdout)["rejected"] == 1
    rejected = json.loads((tmp_path / "z_rejects.jsonl").read_text())
    assert rejected["line"] == 3 and "text" in rejected["reason"]
    assert pd.read_json(tmp_path / "z.jsonl", lines=True, dtype={"id": str})["id"].tolist() == ["1"]
    restarted = _run("--task", str(task.path), str(feed), "--out", str(tmp_path / "x.parquet"), "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert len(pd.read_parquet(tmp_path / "x.parquet")) == 1
