"""The live dashboard (issue 14 part 2): GET /live, /live/panel and /api/live on a real PostgreSQL
with posts classified by the real stream worker and a tiny real Keras production model, and the
page in a real Chromium against a real granian server: a post streamed while it is open shows
within 5 s without a reload, no console errors, named charts, axe-core passes."""
from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasets.store import monitor as monitor_store
from datasets.store import sql, stream
from models.stream import Worker
from models.train import train_model
from tagger_app import create_app
from tests.support.feeds import promote
from tests.support.registry import FAST_TRAIN
from tests.support.strict_json import strict_loads
from tests.support.browser import axe_violations, chromium, logged_in_page, served
from tests.support.tagger import Client, Server, add_annotator
from tests.support.world import World, add_golden, make_world

LINKS = ("https://spam.example/win", "https://news.example.org/a", "https://blog.example.net/b")


def stream_posts(engine: sa.engine.Engine, world: World, first: int, texts: list[str]) -> list[str]:
    """Insert posts (each with a link) while the task has a stream; the real worker classifies them."""
    ids = [f"live{first + i:05d}" for i in range(len(texts))]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_posts (id, text, urls) VALUES (:id, :text, :urls)"),
                     [{"id": i, "text": t, "urls": [LINKS[n % 3]]} for n, (i, t) in enumerate(zip(ids, texts))])
    worker = Worker(engine, world.task, [], batch_size=500)
    while worker.classify_batch():
        pass
    return ids


@pytest.fixture()
def live_world(engine: sa.engine.Engine, tmp_path: Path) -> World:
    """The synthetic world with a promoted tiny model and 20 live posts streamed through it."""
    world = make_world(engine, tmp_path)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    run = train_model(world.task.path, world.version, engine=engine, progress=False, **FAST_TRAIN).run_id
    promote(engine, world.task.name, run)
    with sql.transaction(engine) as conn:
        stream.register(conn, world.task.name)
    stream_posts(engine, world, 0, [f"subscribe to my channel {i}" if i % 2 else f"love this song {i}"
                                    for i in range(20)])
    return world


def test_live_api_and_page_show_the_stream(engine: sa.engine.Engine, live_world: World) -> None:
    add_annotator(engine, "ann")
    app = create_app({"TAGGER_TASK": str(live_world.task.path)})
    assert app.test_client().get("/api/live").status_code == 401
    client = Client(app, "ann")
    response = client.http.get("/api/live?bucket=minute&window=1h")
    assert response.status_code == 200
    d = strict_loads(response.get_data(as_text=True))
    assert d["labels"] == ["ham", "spam"] and len(d["series"]) == 60
    assert sum(p["counts"]["spam"] for p in d["series"]) == 10 and sum(p["counts"]["ham"] for p in d["series"]) == 10
    assert [len(d["latest"][label]) for label in d["labels"]] == [5, 5]
    newest_spam = d["latest"]["spam"][0]
    assert newest_spam["post_id"] == "live00019" and newest_spam["links"] == [LINKS[19 % 3]]
    assert {u["url"]: u["n"] for u in d["top_urls"]["spam"]} == {LINKS[0]: 3, LINKS[1]: 4, LINKS[2]: 3}
    assert {u["domain"]: u["n"] for u in d["top_domains"]["ham"]} == {"spam.example": 4, "news.example.org": 3,
                                                                      "blog.example.net": 3}
    assert d["production"]["actor"] == "test" and d["production"]["metrics"] == {}  # promoted unscored
    assert d["monitor"] == [] and d["newest"] is not None

    hours = strict_loads(client.http.get("/api/live?bucket=day").get_data(as_text=True))
    assert len(hours["series"]) == 30 and sum(hours["series"][-1]["counts"].values()) == 20
    for query, field in (("bucket=week", "bucket"), ("window=2y", "window"), ("bucket=", None)):
        response = client.http.get(f"/api/live?{query}")
        if field is None:
            assert response.status_code == 200                            # empty means the default
            continue
        assert response.status_code == 400 and response.get_json()["field"] == field, query
        assert client.http.get(f"/live?{query}").status_code == 400

    with sql.transaction(engine) as conn:                                   # a recorded decision shows on the page
        monitor_store.record(conn, task=live_world.task.name, window_start=d["now"], production_run=d["production"]["run_id"],
                             metrics={"posts": 20, "distribution": {"psi": 0.31}, "confidence": {"mean": 0.8, "low_share": 0.1, "low_confidence": 0.6},
                                      "lfs": None, "golden_since_training": 0,
                                      "thresholds": {"psi": 0.2, "min_mean_confidence": 0.6, "low_confidence": 0.6,
                                                     "max_low_confidence_share": 0.3, "min_lf_agreement": 0.6,
                                                     "retrain_after_golden": 0}},
                             tripped=["psi"], decision="refused", new_run=d["production"]["run_id"],
                             detail={"reasons": ["PSI 0.310 > 0.2"],
                                     "comparison": {"candidate": {"macro_f1": 0.5}, "champion": {"macro_f1": 0.9}}})
    html = client.http.get("/live").get_data(as_text=True)
    for chart in ("chart-live-over-time", "chart-live-shares"):
        assert f'<title id="{chart}-title">' in html and f'<desc id="{chart}-desc">' in html
    assert "PSI 0.310 &gt; 0.2" in html and "0.500 / 0.900" in html and 'href="/live"' in html
    assert "<script src=\"/static/live.js\">" in html and "live00019" in html
    panel = client.http.get("/live/panel?bucket=hour").get_data(as_text=True)
    assert panel.lstrip().startswith("<div class=\"live-inner\" data-stamp=") and "<html" not in panel


@pytest.fixture()
def live_server(engine: sa.engine.Engine, live_world: World) -> Iterator[Server]:
    with served(live_world.task.path) as srv:
        yield srv


@pytest.mark.browser
def test_live_page_in_chromium_updates_itself_and_is_accessible(engine: sa.engine.Engine, live_world: World,
                                                                 live_server: Server) -> None:
    add_annotator(engine, "ann")
    with chromium() as browser:
        page, problems = logged_in_page(browser, live_server, "/live", "ann")
        assert page.get_by_role("heading", name="Live", level=1).is_visible()
        assert page.get_by_text("subscribe to my channel 19").count() == 1
        page.evaluate("window.__sameDocument = true")                       # gone if the page reloads
        before = page.locator("#chart-live-over-time-desc").text_content()

        ids = stream_posts(engine, live_world, 100, ["subscribe to my channel breaking news 100"])
        started = time.monotonic()
        page.get_by_text("subscribe to my channel breaking news 100").wait_for(timeout=5000)
        assert time.monotonic() - started < 5 and ids == ["live00100"]
        assert page.evaluate("window.__sameDocument") is True              # swapped in, not reloaded
        after = page.locator("#chart-live-over-time-desc").text_content()
        assert "21 in all" in after and after != before                  # the text alternative follows the chart
        svgs = page.locator("svg.chart")
        assert svgs.count() == 2
        for title in ("Posts classified per minute", "Predicted labels"):
            assert page.get_by_role("img", name=re.compile(f"^{title}")).count() == 1
        assert page.get_by_role("status").first.text_content().startswith("Updated")
        page.select_option("#bucket", "hour")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(lambda url: "bucket=hour" in url)
        assert page.get_by_role("img", name=re.compile("^Posts classified per hour")).count() == 1
        assert problems == []
        assert axe_violations(browser, live_server, "/live", "ann") == []
