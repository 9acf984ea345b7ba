"""The tagger against a clumsy user and an attacker: roles and golden-label integrity, login
throttling, revocable sessions, exhaustion under contention, the database going away, exports.
Real PostgreSQL throughout; a real server where concurrency matters."""
from __future__ import annotations

import csv
import io
import subprocess
import threading

import pytest
import requests
import sqlalchemy as sa

from datasets.store import logins
from tagger_app import create_app
from tests.support.tagger import Client
from tests.support.tagger import (PASSWORD, REPO_ROOT, Server, add_annotator, current_labels, login,
                                       seed_posts, server, split_order)

__all__ = ["server"]  # the fixture, re-exported for pytest


def golden(engine: sa.engine.Engine, post_id: str) -> tuple[str | None, bool]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text("SELECT label, conflict FROM golden_labels WHERE post_id = :p"),
                                  {"p": post_id}).one())


def test_only_admins_see_reports_resolve_and_export(engine) -> None:
    seed_posts(engine, {"test": 2})
    add_annotator(engine, "root", role="admin")
    add_annotator(engine, "ann")
    app = create_app()
    ann, root = Client(app, "ann"), Client(app, "root")
    for path in ("/report", "/conflicts", "/api/export"):
        assert ann.http.get(path).status_code == 403
        assert root.http.get(path).status_code == 200
    refused = ann.form("/conflicts/resolve", {"post_id": "test0000", "label": "ai"})
    assert refused.status_code == 403
    assert ann.http.get("/api/export").get_json()["error"] == "only admins may do this"
    assert "Conflicts" not in ann.http.get("/label").get_data(as_text=True)


def test_resolution_needs_a_conflict_and_an_override_needs_a_reason_and_can_be_undone(engine) -> None:
    seed_posts(engine, {"test": 2})
    add_annotator(engine, "root", role="admin")
    add_annotator(engine, "ann")
    add_annotator(engine, "bob")
    app = create_app({"TAGGER_ANNOTATIONS_PER_ITEM": 2})
    root, ann, bob = Client(app, "root"), Client(app, "ann"), Client(app, "bob")
    ann.submit(post_id="test0000", label="ai")
    bob.submit(post_id="test0000", label="ai")
    assert golden(engine, "test0000") == ("ai", False)
    not_in_conflict = root.form("/conflicts/resolve", {"post_id": "test0000", "label": "not_ai"})
    assert not_in_conflict.status_code == 409 and "not in conflict" in not_in_conflict.get_data(as_text=True)
    no_reason = root.form("/conflicts/resolve", {"post_id": "test0000", "label": "not_ai", "override": "1"})
    assert no_reason.status_code == 409 and golden(engine, "test0000") == ("ai", False)
    overridden = root.form("/conflicts/resolve", {"post_id": "test0000", "label": "not_ai", "override": "1",
                                                  "reason": "the guideline says tools are not AI"})
    assert overridden.status_code == 302 and golden(engine, "test0000") == ("not_ai", False)
    with engine.connect() as conn:
        resolution = conn.execute(sa.text("SELECT id, meta FROM human_labels WHERE action = 'resolve'")).one()
    assert resolution.meta["override"] is True and resolution.meta["previous"] == "ai"
    page = root.http.get("/conflicts").get_data(as_text=True)
    assert "the guideline says tools are not AI" in page and "(was ai)" in page
    assert root.form("/conflicts/undo", {"resolution_id": resolution.id}).status_code == 302
    assert golden(engine, "test0000") == ("ai", False)                  # back to what the annotators said
    assert root.form("/conflicts/undo", {"resolution_id": resolution.id}).status_code == 409   # only once
    with engine.connect() as conn:
        history = conn.execute(sa.text("SELECT action FROM human_labels ORDER BY id")).scalars().all()
    assert history == ["label", "label", "resolve", "undo"]             # nothing rewritten, all recorded


def test_submit_takes_only_items_leased_to_the_annotator_and_under_the_cap(engine) -> None:
    ids = seed_posts(engine, {"test": 3, "lf": 1})
    add_annotator(engine, "ann")
    add_annotator(engine, "bob")
    app = create_app()
    ann, bob = Client(app, "ann"), Client(app, "bob")
    held = ann.ids(n=1)[0]
    taken = bob.post("/api/submit", {"post_id": held, "label": "ai"})
    assert taken.status_code == 409 and "another annotator" in taken.get_json()["error"]
    elsewhere = bob.post("/api/submit", {"post_id": ids["lf"][0], "label": "ai", "queue": "active"})
    assert elsewhere.status_code == 409 and "not served to you" in elsewhere.get_json()["error"]
    ann.submit(post_id=held, label="ai")
    with engine.begin() as conn:                                       # the lease has lapsed, the label stays
        conn.execute(sa.text("UPDATE tagger_leases SET expires_at = now() - interval '1 second'"))
    capped = bob.post("/api/submit", {"post_id": held, "label": "not_ai"})
    assert capped.status_code == 409 and capped.get_json()["field"] == "post_id"
    assert "annotations_per_item" in capped.get_json()["error"]
    assert current_labels(engine, "bob") == {}
    ann.submit(post_id=held, label="not_ai")                            # changing one's own label is fine
    assert current_labels(engine, "ann") == {held: "not_ai"}


def test_failed_logins_lock_the_account_and_the_address_with_growing_delays(engine) -> None:
    add_annotator(engine, "ann")
    add_annotator(engine, "bob")
    app = create_app()
    for _ in range(logins.FREE_FAILURES):
        assert login(app.test_client(), "ann", "wrong password").status_code == 401
    assert login(app.test_client(), "ann", "wrong password").status_code == 401   # this one locks for 1 s
    locked = login(app.test_client(), "ann", PASSWORD)                 # the right password, too soon
    assert locked.status_code == 429 and "Too many failed logins" in locked.get_data(as_text=True)
    assert int(locked.headers["Retry-After"]) >= 1
    other_account = login(app.test_client(), "bob", PASSWORD)          # same address: locked as well
    assert other_account.status_code == 429
    with engine.connect() as conn:
        delays = [logins.locked_for(conn, ["account:ann"])]
    with engine.begin() as conn:
        logins.record_failure(conn, ["account:ann"])
        delays.append(logins.locked_for(conn, ["account:ann"]))
        logins.record_failure(conn, ["account:ann"])
        delays.append(logins.locked_for(conn, ["account:ann"]))
    assert delays[0] <= 1 < delays[1] <= 2 < delays[2] <= 4             # each failure doubles the lock
    with engine.begin() as conn:                                        # the lock has run out
        conn.execute(sa.text("UPDATE login_failures SET locked_until = now() - interval '1 second'"))
    assert login(app.test_client(), "ann", PASSWORD).status_code == 302
    with engine.connect() as conn:
        assert logins.locked_for(conn, ["account:ann"]) == 0
        left = conn.execute(sa.text("SELECT key FROM login_failures")).scalars().all()
    assert left == ["address:127.0.0.1"]                               # success clears the account only


@pytest.mark.parametrize("how", ["logout", "new password", "disable"])
def test_logout_password_change_and_disable_end_every_session(engine, how: str) -> None:
    add_annotator(engine, "ann")
    app = create_app()
    laptop, phone = Client(app, "ann"), Client(app, "ann")
    copied = laptop.http.get_cookie("session").value                   # e.g. taken from the browser
    if how == "logout":
        assert laptop.form("/logout", {}).status_code == 302
    else:
        args = ["add", "ann", "--update", "--password-stdin"] if how == "new password" else ["disable", "ann"]
        subprocess.run([str(REPO_ROOT / "bin" / "annotator.sh"), *args], input=PASSWORD + "\n", text=True,
                       check=True, capture_output=True)
    thief = app.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/api/me").status_code == 401
    assert phone.http.get("/api/me").status_code == 401
    assert (login(app.test_client(), "ann").status_code == 302) == (how != "disable")


def test_next_says_exhausted_only_when_nothing_is_claimable(engine, server: Server) -> None:
    """Ten annotators at once on a queue with plenty of open items: no empty answer claims the
    queue is exhausted, and no item goes to two of them."""
    seed_posts(engine, {"test": 400})
    names = [f"ann{i}" for i in range(10)]
    for name in names:
        add_annotator(engine, name)
    served: dict[str, list[str]] = {}
    false_exhausted: list[dict] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            label_items(name)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    def label_items(name: str) -> None:
        http = requests.Session()
        page = http.get(f"{server.url}/login").text
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        http.post(f"{server.url}/login", data={"csrf_token": token, "name": name, "password": PASSWORD})
        csrf = http.get(f"{server.url}/api/me").json()["csrf_token"]
        mine = served.setdefault(name, [])
        for _ in range(12):
            answer = http.get(f"{server.url}/api/next", params={"n": 3}).json()
            if answer["exhausted"]:
                false_exhausted.append(answer)
            for item in answer["items"]:
                mine.append(item["post_id"])
                r = http.post(f"{server.url}/api/submit", json={"post_id": item["post_id"], "label": "ai"},
                              headers={"X-CSRFToken": csrf})
                assert r.status_code == 201, r.text

    threads = [threading.Thread(target=work, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [post_id for ids in served.values() for post_id in ids]
    assert errors == [] and false_exhausted == []
    assert len(everything) == len(set(everything)) > 100


def test_database_down_gives_json_503_and_a_try_again_page(engine, database_url: str, pg_admin_url: str) -> None:
    add_annotator(engine, "ann")
    app = create_app()
    ann = Client(app, "ann")
    name = sa.engine.make_url(database_url).database
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
        conn.exec_driver_sql(f"ALTER DATABASE {name} RENAME TO {name}_away")
    try:
        api = ann.http.get("/api/next")
        assert api.status_code == 503 and "try again" in api.get_json()["error"]
        page = ann.http.get("/label")
        assert page.status_code == 503 and "Try again in a moment" in page.get_data(as_text=True)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {name}_away RENAME TO {name}")
        admin.dispose()
    assert ann.http.get("/api/next").status_code == 200                # back by itself


def test_export_validates_its_arguments_and_makes_formula_cells_inert(engine) -> None:
    seed_posts(engine, {"test": 1}, texts={"test0000": '=HYPERLINK("http://evil.example","click")'})
    add_annotator(engine, "root", role="admin")
    root = Client(create_app(), "root")
    root.submit(post_id="test0000", label="ai")
    for query in ("split=test%0d%0aX-Injected:%201", "format=xlsx", "version=0", "version=%C2%B2", "version=99"):
        r = root.http.get(f"/api/export?{query}")
        assert r.status_code == 400 and r.is_json and "X-Injected" not in r.headers
    rows = list(csv.DictReader(io.StringIO(root.http.get("/api/export?format=csv").get_data(as_text=True))))
    assert rows[0]["text"] == "'=HYPERLINK(\"http://evil.example\",\"click\")"


def test_next_resumes_after_the_cursor_and_wraps_around_to_items_passed_over(engine) -> None:
    order = split_order(seed_posts(engine, {"test": 5})["test"])
    add_annotator(engine, "ann")
    add_annotator(engine, "bob")
    app = create_app()
    ann, bob = Client(app, "ann"), Client(app, "bob")
    assert bob.ids(n=1) == order[:1]                                   # bob holds the first item
    first = ann.next(n=2)
    assert [i["post_id"] for i in first["items"]] == order[1:3]
    for post_id in order[1:3]:
        ann.submit(post_id=post_id, label="ai")
    second = ann.next(n=2, cursor=first["cursor"])
    assert [i["post_id"] for i in second["items"]] == order[3:5] and second["cursor"] > first["cursor"]
    with engine.begin() as conn:                                       # bob walks away
        conn.execute(sa.text("UPDATE tagger_leases SET expires_at = now() WHERE annotator = 'bob'"))
    third = ann.next(n=2, cursor=second["cursor"], exclude=",".join(order[3:5]))
    assert [i["post_id"] for i in third["items"]] == order[:1] and third["exhausted"] is False
