"""The tagger's queues, review, report, conflicts, table and export through Flask's test client
(real PostgreSQL; the server and browser tests are in test_tagger_browser.py)."""
from __future__ import annotations

import json
import re
import subprocess

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from datasets.store import reports
from tagger_app import create_app
from tagger_app.golden_export import ExportResult
from tests.support.results import check_json
from tests.support.tagger import (Client, PASSWORD, REPO_ROOT, XSS_TEXT, add_annotator, current_labels, login,
                                       seed_posts, split_order)


@pytest.fixture()
def app(engine):
    return create_app()


def lf_run(engine, votes: dict[str, list[int]], lf_names=("kw_ai", "kw_not")) -> int:
    with engine.begin() as conn:
        run = conn.execute(sa.text(
            "INSERT INTO lf_runs (task, task_hash, version, lf_names, label_names) "
            "VALUES ('ai_tweets', 'h', 1, :lfs, ARRAY['not_ai', 'ai']) RETURNING id"), {"lfs": list(lf_names)}).scalar()
        for post_id, v in votes.items():
            conn.execute(sa.text("INSERT INTO lf_votes (run_id, post_id, votes) VALUES (:r, :p, :v)"),
                         {"r": run, "p": post_id, "v": v})
    return run


def make_queue(engine, kind: str, post_ids: list[str]) -> int:
    with engine.begin() as conn:
        qid = conn.execute(sa.text("INSERT INTO queues (task, kind, strategy, version) "
                                   "VALUES ('ai_tweets', :k, 'entropy', 1) RETURNING id"), {"k": kind}).scalar()
        for rank, post_id in enumerate(post_ids, 1):
            conn.execute(sa.text("INSERT INTO queue_items (queue_id, post_id, rank, score, reason) "
                                 "VALUES (:q, :p, :r, 1.0 / :r, 'uncertain')"), {"q": qid, "p": post_id, "r": rank})
    return qid


def test_split_queue_is_sequential_leased_and_skips_answers(engine, app) -> None:
    ids = seed_posts(engine, {"test": 6, "dev": 2})["test"]
    order = split_order(ids)
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    alice, bob = Client(app, "alice"), Client(app, "bob")
    first = alice.next(n=2, progress=1)
    assert [i["post_id"] for i in first["items"]] == order[:2]
    assert first["progress"] == {"total": 6, "done": 0}
    assert bob.ids(n=2) == order[2:4]                       # alice's preloaded items are leased to her
    alice.submit(post_id=order[0], label="ai", duration_ms=1500)
    alice.submit(post_id=order[1], action="skip")
    assert alice.ids(n=3, exclude=",".join(order[2:4])) == order[4:6]
    assert alice.next(progress=1)["progress"]["done"] == 2
    undone = alice.post("/api/undo", {}).get_json()          # undo the skip: the item is open again
    assert undone["undone"]["action"] == "skip" and undone["item"]["post_id"] == order[1]
    assert order[1] in alice.ids(n=6)
    assert alice.post("/api/submit", {"post_id": order[2], "label": "maybe"}).status_code == 400
    assert alice.post("/api/submit", {"post_id": "nope", "label": "ai"}).status_code == 400
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT annotator, duration_ms, source, meta FROM human_labels "
                                   "WHERE action = 'label'")).one()
    assert row.annotator == "alice" and row.duration_ms == 1500 and row.source == "tagger"
    assert row.meta["queue"] == "split" and row.meta["split"] == "test"


def test_leases_and_reopened_items_are_shared_between_server_processes(engine) -> None:
    """Two application instances (as two server processes) never serve one item to two annotators,
    and an undo in one reopens the item for the other."""
    order = split_order(seed_posts(engine, {"test": 4})["test"])
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    alice, bob = Client(create_app(), "alice"), Client(create_app(), "bob")
    assert alice.ids(n=2) == order[:2]
    assert bob.ids(n=2) == order[2:4]                        # alice's leases hold in the other process
    bob.submit(post_id=order[2], label="ai")
    alice.submit(post_id=order[0], label="ai")
    alice.submit(post_id=order[1], label="ai")
    assert bob.ids(n=2) == [order[3]]
    assert alice.post("/api/undo", {}).get_json()["undone"]["post_id"] == order[1]
    with engine.begin() as conn:                             # alice walks away: her lease on it lapses
        conn.execute(sa.text("UPDATE tagger_leases SET expires_at = now() WHERE post_id = :p"), {"p": order[1]})
    assert order[1] in bob.ids(n=2)


def test_active_queue_falls_back_to_lf_conflicts_then_serves_latest_queue(engine, app) -> None:
    seed_posts(engine, {"lf": 5})
    add_annotator(engine, "alice")
    alice = Client(app, "alice")
    assert alice.next(queue="active")["available"] is False   # no LF run, no queue: a clear message
    lf_run(engine, {"lf0000": [1, 0], "lf0001": [-1, -1], "lf0002": [1, 1], "lf0003": [0, -1], "lf0004": [0, 1]})
    got = alice.next(queue="active", n=5)
    assert got["queue"]["strategy"] == "lf_disagreement_fallback"
    ids = [i["post_id"] for i in got["items"]]
    assert set(ids[:2]) == {"lf0000", "lf0004"} and ids[2:] == ["lf0001"]   # disagreements, then abstains
    make_queue(engine, "active", ["lf0003", "lf0002", "lf0001"])
    assert alice.ids(queue="active", n=5) == ["lf0003", "lf0002", "lf0001"]
    alice.submit(post_id="lf0002", label="ai", queue="active")
    assert alice.ids(queue="active", n=5) == ["lf0003", "lf0001"]      # rank order, answered items skipped


def test_disagreement_queue_and_hints(engine, app) -> None:
    seed_posts(engine, {"lf": 3})
    add_annotator(engine, "alice")
    alice = Client(app, "alice")
    for post_id in ("lf0000", "lf0001", "lf0002"):
        alice.submit(post_id=post_id, label="ai", split="lf")
    lf_run(engine, {"lf0000": [0, -1], "lf0001": [1, -1], "lf0002": [-1, -1]})
    got = alice.next(queue="disagree", n=5, hints=1)
    assert [i["post_id"] for i in got["items"]] == ["lf0000"]
    assert got["items"][0]["hints"]["lf_votes"] == [{"lf": "kw_ai", "label": "not_ai"}]
    alice.submit(post_id="lf0000", label="not_ai", queue="disagree")
    assert alice.ids(queue="disagree") == []


def test_random_queue_covers_the_version_without_repeats(engine, app) -> None:
    ids = seed_posts(engine, {"test": 4, "train": 8})
    add_annotator(engine, "alice")
    alice = Client(app, "alice")
    seen = []
    for _ in range(12):
        (post_id,) = alice.ids(queue="random")
        seen.append(post_id)
        alice.submit(post_id=post_id, action="skip", queue="random")
    assert sorted(seen) == sorted(ids["test"] + ids["train"])
    assert alice.ids(queue="random") == []
    assert set(alice.ids(queue="random", split="train", n=20)) == set()


def test_prediction_review_records_a_label_either_way(engine, app) -> None:
    seed_posts(engine, {"train": 3})
    add_annotator(engine, "alice")
    with engine.begin() as conn:
        for post_id, label, conf in (("train0000", "ai", 0.9), ("train0001", "ai", 0.55), ("train0002", "not_ai", 0.7)):
            conn.execute(sa.text("INSERT INTO predictions (task, source, post_id, version, label, confidence) "
                                 "VALUES ('ai_tweets', 'end_model', :p, 1, :l, :c)"), {"p": post_id, "l": label, "c": conf})
    alice = Client(app, "alice")
    got = alice.next(queue="predictions", n=3)
    assert got["queue"]["source"] == "end_model"              # the default when end-model predictions exist
    assert [i["post_id"] for i in got["items"]] == ["train0001", "train0002", "train0000"]  # least confident first
    assert got["items"][0]["prediction"]["label"] == "ai"
    alice.submit(post_id="train0001", answer="accept", queue="predictions")
    alice.submit(post_id="train0002", answer="reject", queue="predictions")
    assert current_labels(engine, "alice") == {"train0001": "ai", "train0002": "ai"}
    with engine.connect() as conn:
        metas = conn.execute(sa.text("SELECT source, meta FROM human_labels ORDER BY id")).all()
    assert [m.source for m in metas] == ["review", "review"]
    assert [m.meta["answer"] for m in metas] == ["accept", "reject"]
    assert alice.ids(queue="predictions", n=3) == ["train0000"]
    assert "Accept" in alice.http.get("/review").get_data(as_text=True)


def test_label_review_queue_serves_items_answered_before_it(engine, app) -> None:
    seed_posts(engine, {"test": 3})
    add_annotator(engine, "alice")
    alice = Client(app, "alice")
    alice.submit(post_id="test0000", label="ai")
    alice.submit(post_id="test0001", label="ai")
    assert alice.next(queue="review")["available"] is False
    make_queue(engine, "review", ["test0001", "test0000"])
    got = alice.next(queue="review", n=5)
    assert [i["post_id"] for i in got["items"]] == ["test0001", "test0000"]
    assert got["items"][0]["golden_label"] == "ai"
    alice.submit(post_id="test0001", label="not_ai", queue="review")
    assert alice.ids(queue="review", n=5) == ["test0000"]
    assert current_labels(engine, "alice")["test0001"] == "not_ai"


def test_report_kappa_and_conflict_resolution(engine) -> None:
    seed_posts(engine, {"test": 4})
    add_annotator(engine, "alice", role="admin")
    add_annotator(engine, "bob")
    app = create_app({"TAGGER_ANNOTATIONS_PER_ITEM": 2})
    alice, bob = Client(app, "alice"), Client(app, "bob")
    a_labels = ["ai", "ai", "not_ai", "ai"]
    b_labels = ["ai", "ai", "not_ai", "not_ai"]
    for i, (a, b) in enumerate(zip(a_labels, b_labels)):
        alice.submit(post_id=f"test{i:04d}", label=a, duration_ms=2000)
        bob.submit(post_id=f"test{i:04d}", label=b, duration_ms=4000)
    # observed agreement 3/4; chance agreement 3/4*2/4 + 1/4*2/4 = 1/2; kappa = (0.75 - 0.5) / 0.5
    with engine.connect() as conn:
        (pair,) = reports.pairwise_kappa(conn, "ai_tweets", ["not_ai", "ai"])
        people = {p["annotator"]: p for p in reports.annotator_stats(conn, "ai_tweets")}
    assert pair == {"a": "alice", "b": "bob", "items": 4, "agreement": 0.75, "kappa": 0.5}
    assert people["alice"]["items_per_hour"] == 1800.0 and people["bob"]["items_per_hour"] == 900.0
    assert people["alice"]["by_label"] == {"ai": 3, "not_ai": 1}
    page = alice.http.get("/report").get_data(as_text=True)
    assert "0.500" in page and "1800.0" in page
    conflicts = alice.http.get("/conflicts").get_data(as_text=True)
    assert "test0003" in conflicts and "test0000" not in conflicts
    assert alice.form("/conflicts/resolve", {"post_id": "test0003", "label": "not_ai"}).status_code == 302
    with engine.connect() as conn:
        golden = conn.execute(sa.text("SELECT label, conflict, resolved FROM golden_labels "
                                      "WHERE task = 'ai_tweets' AND post_id = 'test0003'")).one()
        action = conn.execute(sa.text("SELECT source FROM human_labels WHERE action = 'resolve'")).scalar()
    assert tuple(golden) == ("not_ai", False, True) and action == "resolve"
    assert "Conflicts (0)" in alice.http.get("/conflicts").get_data(as_text=True)
    stats = alice.http.get("/api/stats").get_json()
    assert stats["golden"]["by_label"] == {"ai": 2, "not_ai": 2}
    assert stats["mine"]["labels"] == 3 and stats["mine"]["resolutions"] == 1   # her resolution supersedes her label


def test_table_search_filters_and_inline_relabel(engine, app) -> None:
    seed_posts(engine, {"test": 60}, texts={"test0007": "Deep sleep tips", "test0008": XSS_TEXT})
    add_annotator(engine, "alice")
    alice = Client(app, "alice")
    first = alice.http.get("/table?split=test").get_data(as_text=True)
    assert "60 items" in first and "page 1 of 2" in first and first.count('name="post_id"') == 50
    found = alice.http.get("/table?split=test&q=deep%20SLEEP").get_data(as_text=True)
    assert "1 items" in found and "Deep sleep tips" in found
    xss = alice.http.get("/table?split=test&q=script").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in xss and XSS_TEXT not in xss
    r = alice.form("/table/label", {"post_id": "test0007", "label": "not_ai", "split": "test",
                                    "back": "/table?split=test&q=deep"})
    assert r.status_code == 302 and r.headers["Location"] == "/table?split=test&q=deep"
    assert current_labels(engine, "alice") == {"test0007": "not_ai"}
    assert "1 items" in alice.http.get("/table?split=test&label=not_ai").get_data(as_text=True)
    assert "59 items" in alice.http.get("/table?split=test&label=_unlabeled").get_data(as_text=True)
    lf_run(engine, {"test0007": [-1, 1], "test0009": [-1, -1]})
    assert "1 items" in alice.http.get("/table?split=test&disagree=1").get_data(as_text=True)
    assert "test0009" in alice.http.get("/table?split=test&lf=_abstain").get_data(as_text=True)
    assert "1 items" in alice.http.get("/table?split=test&lf=ai").get_data(as_text=True)
    assert "0 items" in alice.http.get("/table?split=test&lf=not_ai").get_data(as_text=True)


def test_export_writes_golden_sets_with_agreement(engine) -> None:
    seed_posts(engine, {"test": 3, "dev": 2})
    add_annotator(engine, "alice", role="admin")
    add_annotator(engine, "bob")
    app = create_app({"TAGGER_ANNOTATIONS_PER_ITEM": 2})
    alice, bob = Client(app, "alice"), Client(app, "bob")
    alice.submit(post_id="test0000", label="ai")
    bob.submit(post_id="test0000", label="ai")
    alice.submit(post_id="test0001", label="ai")
    bob.submit(post_id="test0001", label="not_ai")
    alice.submit(post_id="dev0000", label="not_ai", split="dev")
    out = {}
    for fmt in ("parquet", "csv", "jsonl"):
        proc = subprocess.run([str(REPO_ROOT / "bin" / "export.sh"), "--format", fmt, "--json", "--include-conflicts"],
                              capture_output=True, text=True, check=True)
        out[fmt] = json.loads(proc.stdout)
    summary = out["parquet"]
    check_json(summary, ExportResult, "export")
    assert summary["version"] == 1 and summary["splits"]["test"]["rows"] == 2 and summary["splits"]["dev"]["rows"] == 1
    table = pq.read_table(summary["splits"]["test"]["path"]).to_pylist()
    by_id = {r["post_id"]: r for r in table}
    assert by_id["test0000"]["label"] == "ai" and by_id["test0000"]["agreement"] == 1.0
    assert by_id["test0000"]["annotators"] == ["alice", "bob"]
    assert by_id["test0001"]["label"] is None and by_id["test0001"]["conflict"] is True
    assert by_id["test0001"]["agreement"] is None or by_id["test0001"]["agreement"] == 0.0
    assert json.loads(by_id["test0001"]["annotator_labels"]) == {"alice": "ai", "bob": "not_ai"}
    lines = [json.loads(x) for x in open(out["jsonl"]["splits"]["dev"]["path"])]
    assert lines[0]["post_id"] == "dev0000" and lines[0]["label"] == "not_ai" and lines[0]["annotators"] == ["alice"]
    assert open(out["csv"]["splits"]["test"]["path"]).readline().startswith("post_id,split,text,label")
    api = alice.http.get("/api/export?split=test").get_json()
    assert [r["post_id"] for r in api["rows"]] == ["test0000"]   # conflicts left out by default
    assert alice.http.get("/api/export?format=csv&split=dev").get_data(as_text=True).count("\n") == 2


def test_annotator_accounts_cli(engine, app) -> None:
    cmd = str(REPO_ROOT / "bin" / "annotator.sh")
    ok = subprocess.run([cmd, "add", "carol", "--password-stdin"], input=PASSWORD + "\n",
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "carol (admin) created" in ok.stdout   # the project's first account
    short = subprocess.run([cmd, "add", "dave", "--password-stdin"], input="short\n", capture_output=True, text=True)
    assert short.returncode == 1 and "at least 8" in short.stderr
    again = subprocess.run([cmd, "add", "carol", "--password-stdin"], input=PASSWORD + "\n",
                           capture_output=True, text=True)
    assert again.returncode == 1 and "already exists" in again.stderr
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM annotators WHERE name = 'carol'")).scalar()
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    client = app.test_client()
    assert login(client, "carol").status_code == 302
    assert login(app.test_client(), "carol", "wrong password").status_code == 401
    subprocess.run([cmd, "disable", "carol"], check=True, capture_output=True)
    listed = json.loads(subprocess.run([cmd, "list", "--json"], check=True, capture_output=True, text=True).stdout)
    assert listed == {"action": "list", "annotators": [{"name": "carol", "role": "admin", "active": False,
                                                        "created_at": listed["annotators"][0]["created_at"]}]}
    assert client.get("/api/stats").status_code == 401      # the open session ends with the account, at once
    assert login(app.test_client(), "carol").status_code == 401


def test_login_redirects_only_within_the_site_and_pages_carry_security_headers(engine, app) -> None:
    add_annotator(engine, "alice")
    for target, expected in (("/table?split=dev", "/table?split=dev"), ("//evil.example/x", "/"),
                             ("https://evil.example/", "/")):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        r = client.post("/login", query_string={"next": target},
                        data={"csrf_token": token, "name": "alice", "password": PASSWORD})
        assert r.status_code == 302 and r.headers["Location"] == expected
    r = client.get("/label")
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"
    assert "<script>" not in r.get_data(as_text=True).split("</main>")[0]   # no inline script in the page body


def test_forged_session_cookies_never_pass(engine, app) -> None:
    add_annotator(engine, "alice")
    client = Client(app, "alice").http
    cookie = client.get_cookie("session").value
    payload, rest = cookie.split(".", 1)
    forged_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for forged in (forged_payload + "." + rest, cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB")):
        client.set_cookie("session", forged)
        assert client.get("/api/me").status_code == 401
    client.set_cookie("session", cookie)
    assert client.get("/api/me").get_json()["annotator"] == "alice"


def test_csrf_tokens_only_fit_their_own_session(engine, app) -> None:
    ids = seed_posts(engine, {"test": 4})["test"]
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    alice, bob = Client(app, "alice"), Client(app, "bob")
    for post_id in ids[:2]:
        alice.submit(post_id=post_id, label="ai")
    alice_token = alice.token
    for token in (bob.token, alice_token[:-2] + ("AA" if alice_token[-2:] != "AA" else "BB"), ""):
        alice.token = token                                    # bob's genuine token, a forged one, none at all
        r = alice.post("/api/submit", {"post_id": ids[2], "label": "ai"})
        assert r.status_code == 400 and "CSRF" in r.get_json()["error"]
    bob.token = alice_token                                   # alice's token does not fit bob's session either
    assert bob.post("/api/submit", {"post_id": ids[3], "label": "ai"}).status_code == 400
    assert current_labels(engine, "alice") == {ids[0]: "ai", ids[1]: "ai"} and current_labels(engine, "bob") == {}


def test_exhausted_queue_says_why(engine, app) -> None:
    ids = seed_posts(engine, {"test": 1})["test"]
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    Client(app, "alice").submit(post_id=ids[0], label="ai")
    answer = Client(app, "bob").next()
    assert answer["items"] == [] and answer["exhausted"] is True
    assert "already labeled by 1 annotator(s)" in answer["message"]
    assert "annotations_per_item" in answer["message"]
