"""Chromium for the page tests: launched headless from /usr/bin/chromium, a login that lands on a
page, the console errors a page logs, and an axe-core audit (axe-core 4.14.1 from npm, which
bin/setup.sh --browser installs into node_modules/)."""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from playwright.sync_api import Browser, Page, sync_playwright

from tagger_app.serve import free_port
from tests.support.tagger import PASSWORD, REPO_ROOT, Server

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed when the block ends."""
    assert AXE.exists(), "run bin/setup.sh --browser (npm ci installs axe-core into node_modules/)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            yield browser
        finally:
            browser.close()


def watch_errors(page: Page) -> list[str]:
    """The console errors, page errors and failed requests of ``page`` from now on (a CSP
    violation by an inline style or script is a console error)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))
    return problems


def open_logged_in(page: Page, srv: Server, path: str, name: str) -> None:
    """Go to ``path``, log in as ``name`` on the login page it redirects to, land on ``path``."""
    page.goto(srv.url + path)
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: urlsplit(url).path == path)
    page.wait_for_load_state("load")


def axe_violations(browser: Browser, srv: Server, path: str, name: str) -> list[tuple]:
    """axe-core's violations on ``path``: its script must be in the page, which the CSP forbids,
    so the audit runs in a context of its own that bypasses the CSP."""
    page = browser.new_context(bypass_csp=True).new_page()
    open_logged_in(page, srv, path, name)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]


@contextmanager
def served(task_path: object) -> Iterator[Server]:
    """A real tagger (granian) on a free port serving the task file ``task_path``, stopped with SIGTERM."""
    srv = Server(free_port(), args=("--task", str(task_path))).start()
    try:
        yield srv
    finally:
        srv.kill(signal.SIGTERM)


def logged_in_page(browser: Browser, srv: Server, path: str, name: str) -> tuple[Page, list[str]]:
    """A new page under the application's own CSP, logged in as ``name`` on ``path``, and the
    list its console errors go to (:func:`watch_errors`)."""
    page = browser.new_context().new_page()
    problems = watch_errors(page)
    open_logged_in(page, srv, path, name)
    return page, problems
