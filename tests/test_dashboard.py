"""The project dashboard (issue 14): GET /dashboard and GET /api/dashboard on a real PostgreSQL with
runs of the real loop (LFs, label model, a tiny Keras model, evaluation), and the page in a real
Chromium against a real granian server, checked by axe-core."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.loop import run_iteration
from tagger_app import create_app
from tagger_app.charts import Bar, Series, bar_chart, line_chart
from tests.support.strict_json import strict_loads
from tests.support.browser import axe_violations, chromium, logged_in_page, served
from tests.support.tagger import Client, Server, add_annotator, seed_posts
from tests.support.world import LF_TOML, World, add_golden, make_world

CHARTS = ["chart-lf-coverage", "chart-models-test", "chart-models-dev", "chart-learning-curve", "chart-golden"]
ODD_ANNOTATOR = "<script>alert('eve')</script>"  # imported labels name any annotator: the page must escape it


@pytest.fixture()
def world(engine: sa.engine.Engine, tmp_path: Path) -> World:
    """Two real loop iterations on the synthetic world: golden test and dev labels first, then ten
    golden train labels from a second annotator and one disagreement (a conflict)."""
    world = make_world(engine, tmp_path, task_toml=LF_TOML, dev=20)
    truth = world.truth
    add_golden(engine, world.task, truth[truth["split"].isin(["test", "dev"])], annotator="alice")
    run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False)
    train = truth[truth["split"] == "train"].head(10)
    add_golden(engine, world.task, train, annotator=ODD_ANNOTATOR)
    run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False)
    flipped = train.head(1).assign(label=lambda f: f["label"].map({"spam": "ham", "ham": "spam"}))
    add_golden(engine, world.task, flipped, annotator="alice")
    return world


def get_json(client: Client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    assert response.mimetype == "application/json"
    return response.status_code, strict_loads(response.get_data(as_text=True))


def test_empty_dashboard_renders_and_refuses_bad_input(engine: sa.engine.Engine) -> None:
    add_annotator(engine, "ann")
    app = create_app()
    assert app.test_client().get("/api/dashboard").status_code == 401
    assert "/login" in app.test_client().get("/dashboard").headers["Location"]
    client = Client(app, "ann")                               # an annotator, not an admin
    page = client.http.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "no data-set version yet" in html and "No LF run yet" in html and "bin/label.sh" in html
    assert "<svg" not in html and 'href="/dashboard"' in html  # nothing to draw; the nav links here
    status, body = get_json(client, "/api/dashboard")
    assert status == 200 and body["version"] is None and body["lf_analysis"] is None
    assert body["runs"] == [] and body["learning_curve"] == [] and body["golden"] == {"splits": [], "annotators": []}
    assert body["models"] == {s: {"source": None, "warning": None, "rows": []} for s in ("test", "dev")}

    seed_posts(engine, {"test": 3, "dev": 2})
    status, body = get_json(client, "/api/dashboard")
    assert status == 200 and body["version"] == 1 and body["lf_analysis"] is None
    assert [(s["split"], s["posts"], s["golden"]) for s in body["golden"]["splits"]] == [
        ("test", 3, 0), ("dev", 2, 0), ("lf", 0, 0), ("train", 0, 0)]
    html = client.http.get("/dashboard").get_data(as_text=True)
    assert "No LF run yet on this version" in html and 'id="chart-golden"' in html

    for query, field in (("version=99", "version"), ("version=0", "version"), ("version=abc", "version"),
                         ("version=99999999999", "version")):
        status, body = get_json(client, f"/api/dashboard?{query}")
        assert status == 400 and body["field"] == field, (query, body)
        assert client.http.get(f"/dashboard?{query}").status_code == 400


def _latest(engine: sa.engine.Engine, kind: str) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT * FROM runs WHERE kind = :k ORDER BY id DESC LIMIT 1"),
                                 {"k": kind}).mappings().one())


@pytest.mark.slow
def test_dashboard_shows_the_real_runs(engine: sa.engine.Engine, world: World) -> None:
    add_annotator(engine, "ann")
    client = Client(create_app({"TAGGER_TASK": str(world.task.path)}), "ann")
    status, d = get_json(client, "/api/dashboard")
    assert status == 200 and d["task"] == "spamtest" and d["version"] == world.version

    with engine.connect() as conn:
        lf_run = conn.execute(sa.text("SELECT id, summary FROM lf_runs ORDER BY id DESC LIMIT 1")).mappings().one()
    lf = d["lf_analysis"]
    assert lf["run_id"] == lf_run["id"] and lf["lfs"] == lf_run["summary"]["lf_summary"]
    assert [row["name"] for row in lf["lfs"]] == ["kw_subscribe", "kw_love", "kw_listen"]
    assert lf["hurting"] == [row["name"] for row in lf["lfs"] if row["hurts"]]
    assert lf["coverage"] == lf_run["summary"]["coverage"] and lf["lf_golden"]["train"] == 10

    evaluation = _latest(engine, "evaluate")
    test = d["models"]["test"]
    assert test["source"] == f"evaluation run {evaluation['id']}"
    assert [r["model"] for r in test["rows"]] == ["end_model", "label_model", "majority_vote", "best_lf"]
    for row in test["rows"]:
        stored = evaluation["metrics"]["models"][row["model"]]
        assert (row["n"], row["accuracy"], row["macro_f1"]) == (40, stored["accuracy"], stored["macro_f1"])
    dev = {r["model"]: r for r in d["models"]["dev"]["rows"]}
    assert set(dev) == {"end_model", "label_model", "majority_vote"}
    assert dev["label_model"] == {"model": "label_model", "n": 20, "ci95": None, "lf": None,
                                  **{k: lf_run["summary"]["label_model"]["dev"][k] for k in ("accuracy", "macro_f1")}}
    with engine.connect() as conn:                            # the end model's stored predictions on dev
        predicted = dict(conn.execute(sa.text("SELECT post_id, label FROM predictions WHERE source = 'end_model'")).all())
    dev_truth = world.truth[world.truth["split"] == "dev"]
    right = sum(predicted.get(i) == label for i, label in zip(dev_truth["id"], dev_truth["label"]))
    assert dev["end_model"]["n"] == 20 and dev["end_model"]["accuracy"] == round(right / 20, 4)

    assert [r["kind"] for r in d["runs"]] == ["loop", "evaluate", "train"] * 2
    assert [r["id"] for r in d["runs"]] == sorted((r["id"] for r in d["runs"]), reverse=True)
    curve = d["learning_curve"]
    assert [(p["iteration"], p["golden_train"], p["golden_test"]) for p in curve] == [(1, 0, 40), (2, 10, 40)]
    last_loop = _latest(engine, "loop")
    assert curve[-1]["end_model"] == last_loop["metrics"]["models"]["end_model"]["macro_f1"]

    splits = {s["split"]: s for s in d["golden"]["splits"]}
    assert (splits["test"]["golden"], splits["dev"]["golden"], splits["train"]["golden"]) == (40, 20, 9)
    assert splits["train"]["conflicts"] == 1 and splits["dev"]["share"] == 1.0
    people = {a["annotator"]: a for a in d["golden"]["annotators"]}
    assert people["alice"]["by_split"] == {"test": 40, "dev": 20, "lf": 0, "train": 1}
    assert people[ODD_ANNOTATOR]["total"] == 10

    html = client.http.get("/dashboard").get_data(as_text=True)
    for chart in CHARTS:
        tag = re.search(rf'<svg role="img" class="chart" id="{chart}"[^>]*>', html)
        assert tag and f'aria-labelledby="{chart}-title {chart}-desc"' in tag.group(0), chart
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert "&lt;script&gt;alert(&#39;eve&#39;)&lt;/script&gt;" in html and ODD_ANNOTATOR not in html
    assert "kw_listen" in html and 'id="curve-table"' in html and "<details>" in html


@pytest.fixture()
def world_server(engine: sa.engine.Engine, world: World) -> Iterator[Server]:
    with served(world.task.path) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.browser
def test_dashboard_in_chromium_is_accessible(engine: sa.engine.Engine, world_server: Server) -> None:
    add_annotator(engine, "ann")
    with chromium() as browser:
        page, problems = logged_in_page(browser, world_server, "/dashboard", "ann")
        assert page.get_by_role("heading", name="Dashboard", level=1).is_visible()
        assert page.locator("#lf-table tbody tr").count() == 3
        svgs = page.locator("svg.chart")
        assert svgs.count() == len(CHARTS)
        for i in range(svgs.count()):
            svg = svgs.nth(i)
            assert svg.get_attribute("role") == "img"
            name = svg.evaluate("el => el.getAttribute('aria-labelledby').split(' ')"
                                ".map(id => document.getElementById(id).textContent).join(' ')")
            assert len(name) > 40, name                       # a title and a description, not just an id
        images = [page.get_by_role("img", name=re.compile(f"^{title}")) for title in (
            "Coverage of each labeling function", "Macro-F1 on golden test", "Macro-F1 on golden dev",
            "Learning curve of the loop", "Golden labels per split")]
        assert [img.count() for img in images] == [1] * len(CHARTS)  # by the accessible name Chromium computes
        page.get_by_text("Learning curve as a table").click()
        assert page.locator("#curve-table tbody tr").count() == 2
        assert problems == []
        assert axe_violations(browser, world_server, "/dashboard", "ann") == []



def test_charts_escape_text_and_draw_gaps_and_single_points() -> None:
    bars = bar_chart("c1", "LFs <b>", 'desc "quoted" & more', [Bar("<img src=x>", 1.5, "150%", flagged=True),
                                                               Bar("ok", -1, "0%")])
    assert "<img" not in bars and "&lt;img src=x&gt;" in bars and "LFs &lt;b&gt;" in bars
    assert bars.startswith('<svg role="img" class="chart" id="c1"') and 'aria-labelledby="c1-title c1-desc"' in bars
    widths = re.findall(r'<rect [^>]*width="([\d.]+)"', bars)
    assert widths == ["340.0", "0.0"]                         # shares are clipped to the bar area
    gap = line_chart("c2", "t", "d", "x", "y", [Series("a", [(0, 0.5), (5, 0.6), (10, None), (15, 0.7), (20, 0.8)])])
    assert gap.count("<polyline") == 2 and gap.count("<circle") == 4 + 1  # two segments; 4 points + legend
    single = line_chart("c3", "t", "d", "x", "y", [Series("only", [(7, 0.9)])])
    assert "<polyline" not in single and single.count("<circle") == 2 and ">7<" in single
