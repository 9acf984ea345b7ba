"""The tagger in a real Chromium (Playwright) against a real granian server and PostgreSQL."""
from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import psutil
import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright

from tagger_app import create_app
from tests.support.tagger import (PASSWORD, XSS_TEXT, Server, add_annotator, current_labels, seed_posts,
                                       server, split_order)

pytestmark = pytest.mark.browser
__all__ = ["server"]  # the fixture, re-exported for pytest

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOWN = "document.getElementById('post').dataset.postId"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    # bypass_csp: Playwright's polling needs eval, which our CSP forbids; it also proves that the
    # escaping alone (not the CSP) keeps a <script> post inert.
    context = browser.new_context(bypass_csp=True)
    pg = context.new_page()
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    context.close()


def log_in(page: Page, srv: Server, name: str, path: str = "/label?queue=split&split=test") -> None:
    """Open ``path``, get sent to the login form, log in, and wait for the first item."""
    page.goto(srv.url + path)
    assert "/login" in page.url
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_function(f"{SHOWN} !== ''")


def shown(page: Page) -> str:
    return page.evaluate(SHOWN)


def wait_saved(page: Page) -> None:
    page.wait_for_function("document.body.dataset.pending === '0'")


def press_and_wait(page: Page, key: str) -> None:
    before = shown(page)
    page.keyboard.press(key)
    page.wait_for_function(f"{SHOWN} !== {before!r} && {SHOWN} !== ''")  # '' = still loading


def test_keyboard_labeling_undo_reload(engine: sa.engine.Engine, server: Server, page: Page) -> None:
    ids = seed_posts(engine, {"test": 25, "dev": 5})["test"]
    add_annotator(engine, "alice")
    log_in(page, server, "alice")
    expected: dict[str, str] = {}
    for i in range(20):
        post_id = shown(page)
        key = "2" if i % 3 == 0 else "1"
        expected[post_id] = ["not_ai", "ai"][int(key) - 1]
        press_and_wait(page, key)
    wait_saved(page)
    assert list(expected) == split_order(ids)[:20]          # sequential through the split
    last = list(expected)[-1]
    press_and_wait(page, "u")                                # undo the last answer: it comes back
    assert shown(page) == last
    wait_saved(page)
    del expected[last]
    page.reload()
    page.wait_for_function(f"{SHOWN} !== ''")
    assert shown(page) == last                               # still open after a reload
    assert current_labels(engine, "alice") == expected
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT action, annotator, source, duration_ms FROM human_labels")).all()
    assert sorted(r.action for r in rows).count("label") == 20 and [r.action for r in rows].count("undo") == 1
    assert all(r.annotator == "alice" and r.source == "tagger" for r in rows)
    assert all(r.duration_ms is not None and r.duration_ms >= 0 for r in rows if r.action == "label")
    assert re.search(r"19 / 25 done", page.inner_text("#progress-text"))


def test_help_toggle_and_buttons_are_focusable(engine: sa.engine.Engine, server: Server, page: Page) -> None:
    seed_posts(engine, {"test": 3})
    add_annotator(engine, "alice")
    log_in(page, server, "alice")
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    page.uncheck("#toggle-shortcuts")                        # WCAG 2.1.4: shortcuts can be turned off
    first = shown(page)
    page.keyboard.press("1")
    page.wait_for_timeout(300)
    assert shown(page) == first and current_labels(engine, "alice") == {}
    page.focus("button[data-label='ai']")                    # every shortcut is also a focusable button
    page.keyboard.press("Enter")
    page.wait_for_function(f"{SHOWN} !== {first!r}")
    wait_saved(page)
    assert current_labels(engine, "alice") == {first: "ai"}
    assert "Saved" in page.inner_text("#status")


def test_script_in_post_is_shown_as_text(engine: sa.engine.Engine, server: Server, page: Page) -> None:
    first = split_order([f"test{i:04d}" for i in range(3)])[0]
    seed_posts(engine, {"test": 3}, texts={first: XSS_TEXT + " see https://example.com/x #tag"})
    add_annotator(engine, "alice")
    log_in(page, server, "alice")
    assert shown(page) == first
    assert page.inner_text("#post-text") == XSS_TEXT + " see https://example.com/x #tag"
    assert page.locator("#post-text script").count() == 0
    assert page.locator("#post-text a").count() == 0         # links are inert text until clicked
    page.goto(server.url + "/table?split=test")
    assert XSS_TEXT in page.inner_text("table.items")
    assert page.locator("table.items script").count() == 0
    assert page.dialogs == []


def test_login_required_everywhere(engine: sa.engine.Engine, server: Server) -> None:
    app = create_app()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("static", "auth.login"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = requests.request(method, server.url + rule.rule, allow_redirects=False, timeout=10,
                                 json={} if rule.rule.startswith("/api") else None)
            assert r.status_code in (302, 400, 401), (method, rule.rule, r.status_code)
            if method == "GET" and rule.rule.startswith("/api"):
                assert r.status_code == 401 and r.json()["error"] == "login required"
            elif method == "GET":
                assert r.status_code == 302 and "/login" in r.headers["Location"]
            checked += 1
    assert checked >= 12


def _session(srv: Server, name: str) -> requests.Session:
    s = requests.Session()
    form = s.get(srv.url + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    assert s.post(srv.url + "/login", data={"csrf_token": token, "name": name, "password": PASSWORD},
                  allow_redirects=False).status_code == 302
    return s


def test_post_without_csrf_token_is_refused(engine: sa.engine.Engine, server: Server) -> None:
    ids = seed_posts(engine, {"test": 3})["test"]
    add_annotator(engine, "alice")
    s = _session(server, "alice")
    r = s.post(server.url + "/api/submit", json={"post_id": ids[0], "label": "ai"})
    assert r.status_code == 400 and "CSRF" in r.json()["error"]
    r = s.post(server.url + "/table/label", data={"post_id": ids[0], "label": "ai", "split": "test"})
    assert r.status_code == 400
    r = s.post(server.url + "/api/submit", json={"post_id": ids[0], "label": "ai"},
               headers={"X-CSRFToken": "forged"})
    assert r.status_code == 400
    assert current_labels(engine, "alice") == {}
    token = s.get(server.url + "/api/me").json()["csrf_token"]
    assert s.post(server.url + "/api/submit", json={"post_id": ids[0], "label": "ai"},
                  headers={"X-CSRFToken": token}).status_code == 201
    assert current_labels(engine, "alice") == {ids[0]: "ai"}
    headers = s.get(server.url + "/label").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"


def test_acknowledged_labels_survive_sigkill(engine: sa.engine.Engine, server: Server, page: Page) -> None:
    seed_posts(engine, {"test": 12})
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    log_in(page, server, "alice")
    expected = {}
    for _ in range(5):
        expected[shown(page)] = "ai"
        press_and_wait(page, "2")
    wait_saved(page)                                          # every answer acknowledged by the server
    s = _session(server, "bob")
    token = s.get(server.url + "/api/me").json()["csrf_token"]
    item = s.get(server.url + "/api/next").json()["items"][0]
    ack = s.post(server.url + "/api/submit", json={"post_id": item["post_id"], "label": "not_ai"},
                 headers={"X-CSRFToken": token})
    assert ack.status_code == 201
    server.kill(signal.SIGKILL)                               # no chance to flush anything
    server.start()
    assert current_labels(engine, "alice") == expected
    assert current_labels(engine, "bob") == {item["post_id"]: "not_ai"}
    page.reload()                                             # the session survives the restart
    page.wait_for_function(f"{SHOWN} !== ''")
    assert shown(page) not in expected and "/label" in page.url
    press_and_wait(page, "1")
    wait_saved(page)
    assert len(current_labels(engine, "alice")) == 6


def test_workers_end_with_the_server_process(engine: sa.engine.Engine, server: Server) -> None:
    """SIGKILL of the server process alone (not its process group): no worker lives on holding the port."""
    workers = psutil.Process(server.proc.pid).children(recursive=True)
    assert workers
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/login", timeout=2)


def test_an_exhausted_page_recovers_by_itself(engine: sa.engine.Engine, server: Server, page: Page) -> None:
    """The only open item is held by bob: alice's page says the queue is exhausted, and shows the
    item without a reload once bob's lease lapses."""
    (post_id,) = seed_posts(engine, {"test": 1})["test"]
    add_annotator(engine, "alice")
    add_annotator(engine, "bob")
    bob = requests.Session()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', bob.get(server.url + "/login").text).group(1)
    bob.post(server.url + "/login", data={"csrf_token": token, "name": "bob", "password": PASSWORD})
    assert [i["post_id"] for i in bob.get(server.url + "/api/next").json()["items"]] == [post_id]
    page.goto(server.url + "/label")
    page.fill("#name", "alice")
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('post-text').textContent.startsWith('Nothing left')")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE tagger_leases SET expires_at = now() WHERE post_id = :p"), {"p": post_id})
    page.wait_for_function(f"{SHOWN} === {post_id!r}", timeout=25_000)
