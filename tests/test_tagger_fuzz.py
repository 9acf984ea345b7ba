"""No input makes the tagger's JSON API answer 5xx or a non-JSON error (issue 11), against a real
granian server and PostgreSQL.

Schemathesis generates requests (valid and invalid) for every operation of docs/openapi.yaml and
sends them with an admin's session cookie and CSRF token; a Hypothesis test and a fixed list send
the inputs the issue names. Both runs are bounded and derandomized, so CI sees the same requests
every time (100 generated examples per operation plus Schemathesis' coverage cases).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.support.tagger import PASSWORD, REPO_ROOT, Server, add_annotator, seed_posts, server

__all__ = ["server"]  # the fixture, re-exported for pytest

SPEC = REPO_ROOT / "docs" / "openapi.yaml"
TASK = "ai_tweets"
LABELS = ["not_ai", "ai"]  # labeling/tasks/ai_tweets.toml
ADMIN = "fuzzadmin"
SPLIT_SIZES = {"test": 12, "dev": 4, "lf": 6, "train": 8}
SEEDED_IDS = [f"{split}{i:04d}" for split, n in SPLIT_SIZES.items() for i in range(n)]  # as seed_posts names them
MAX_EXAMPLES = 100  # 50 missed /api/export's NUL-byte 500 of the code before input validation; 100 found it
SEED = 11  # Schemathesis' own seed; Hypothesis runs derandomized

# Values that broke servers before, mixed into generated strings and numbers now and then
NASTY_STRINGS = ["\x00", "a\x00b", "\u00b2", "test\r\nX-Injected: 1", "\ud7ff\ufeff", "'; --", "%00", " ", "1e400",
                 "99999999999999999999999", "-1", "test,test0000,,", "x" * 300]
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "dictionaries": {"nasty_strings": {"values": NASTY_STRINGS},
                     "nasty_numbers": {"values": [0, -1, 2 ** 31, 2 ** 63, 10 ** 23, 1e308, -1e308, 0.5]}},
    "generation": {
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        "database": "none",                  # no example database: every run sends the same requests
        "with-security-parameters": False,   # the real session cookie and CSRF token are sent instead
        "dictionaries": {"string": {"dictionary": "nasty_strings", "probability": 0.2},
                         "integer": {"dictionary": "nasty_numbers", "probability": 0.2},
                         "number": {"dictionary": "nasty_numbers", "probability": 0.2}},
    },
    # type-wide bindings reach parameters only; body fields are bound one by one
    "parameters": {
        **{f"body.{name}": {"dictionary": "nasty_strings", "probability": 0.2}
           for name in ("post_id", "label", "action", "answer", "queue", "split", "source", "view")},
        "body.duration_ms": {"dictionary": "nasty_numbers", "probability": 0.2},
    },
})
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


@dataclass
class Api:
    """An admin logged in to a running server: a requests session plus the CSRF header for POSTs."""

    url: str
    http: requests.Session
    headers: dict[str, str]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=30, allow_redirects=False, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.post(self.url + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)


def add_admin(engine: sa.engine.Engine, name: str) -> None:
    """Create account ``name`` with the admin role (where accounts have roles, migration 017)."""
    add_annotator(engine, name)
    with engine.begin() as conn:
        has_roles = conn.execute(sa.text("SELECT 1 FROM information_schema.columns "
                                         "WHERE table_name = 'annotators' AND column_name = 'role'")).scalar()
        if has_roles:
            conn.execute(sa.text("UPDATE annotators SET role = 'admin' WHERE name = :n"), {"n": name})


def seed_queues(engine: sa.engine.Engine) -> None:
    """Give every queue something to serve: an LF run, predictions, active and review queues,
    and golden labels from another annotator (two of them in conflict)."""
    add_annotator(engine, "other")
    with engine.begin() as conn:
        run = conn.execute(sa.text(
            "INSERT INTO lf_runs (task, task_hash, version, lf_names, label_names) "
            "VALUES (:t, 'h', 1, ARRAY['kw_ai', 'kw_not'], ARRAY['not_ai', 'ai']) RETURNING id"), {"t": TASK}).scalar()
        for i, post_id in enumerate(SEEDED_IDS):
            conn.execute(sa.text("INSERT INTO lf_votes (run_id, post_id, votes) VALUES (:r, :p, :v)"),
                         {"r": run, "p": post_id, "v": [[1, 0], [1, -1], [-1, -1], [0, 0]][i % 4]})
        for source in ("end_model", "label_model"):
            for i, post_id in enumerate(SEEDED_IDS[::3]):
                conn.execute(sa.text("INSERT INTO predictions (task, source, post_id, version, label, confidence) "
                                     "VALUES (:t, :s, :p, 1, :l, :c)"),
                             {"t": TASK, "s": source, "p": post_id, "l": ("ai", "not_ai")[i % 2], "c": 0.5 + i / 40})
        for kind in ("active", "review"):
            qid = conn.execute(sa.text("INSERT INTO queues (task, kind, strategy, version) "
                                       "VALUES (:t, :k, 'entropy', 1) RETURNING id"), {"t": TASK, "k": kind}).scalar()
            for rank, post_id in enumerate(SEEDED_IDS[1::2], 1):
                conn.execute(sa.text("INSERT INTO queue_items (queue_id, post_id, rank, score, reason) "
                                     "VALUES (:q, :p, :r, 1.0 / :r, 'uncertain')"), {"q": qid, "p": post_id, "r": rank})
        for annotator, post_id, label in (("other", "test0000", "ai"), ("other", "dev0000", "not_ai"),
                                          ("other", "test0001", "ai"), (ADMIN, "test0001", "not_ai")):
            conn.execute(sa.text("INSERT INTO human_labels (task, post_id, action, label, annotator, source) "
                                 "VALUES (:t, :p, 'label', :l, :a, 'tagger')"),
                         {"t": TASK, "p": post_id, "l": label, "a": annotator})


def log_in(srv: Server, name: str) -> Api:
    """Log ``name`` in through the real form; return the session with its CSRF header."""
    http = requests.Session()
    form = http.get(srv.url + "/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
    r = http.post(srv.url + "/login", data={"csrf_token": token, "name": name, "password": PASSWORD},
                  allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text
    me = http.get(srv.url + "/api/me", timeout=30)
    assert me.status_code == 200, me.text
    return Api(srv.url, http, {"X-CSRFToken": me.json()["csrf_token"]})


@pytest.fixture()
def api(engine: sa.engine.Engine, server: Server) -> Iterator[Api]:
    """A running server with seeded posts, queues and labels, and an admin logged in to it."""
    seed_posts(engine, SPLIT_SIZES)
    add_admin(engine, ADMIN)
    seed_queues(engine)
    session = log_in(server, ADMIN)
    yield session
    session.http.close()


def json_error_problem(response_status: int, content_type: str, text: str) -> str | None:
    """Why an /api error response is not a JSON ``{"error": "..."}`` object (None when it is one)."""
    if response_status < 400:
        return None
    if content_type.split(";")[0].strip().lower() != "application/json":
        return f"error {response_status} has Content-Type {content_type!r}, not application/json: {text[:200]!r}"
    try:
        body = json.loads(text)
    except ValueError:
        return f"error {response_status} is not valid JSON: {text[:200]!r}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return f"error {response_status} is not an object with an 'error' string: {text[:200]!r}"
    if "field" in body and not isinstance(body["field"], str):
        return f"error {response_status} has a non-string 'field': {text[:200]!r}"
    return None


@schemathesis.check
def api_errors_are_json(ctx: schemathesis.CheckContext, response: schemathesis.Response,
                        case: schemathesis.Case) -> None:
    """Every /api error (4xx and 5xx) is a JSON object with an 'error' message; except granian's
    own empty 414 for a request line over 64 KiB (a long ``exclude``), sent before Flask sees it."""
    if response.status_code == 414 and not response.content:
        return
    problem = json_error_problem(response.status_code, response.headers.get("content-type", [""])[0],
                                 response.content.decode("utf-8", "replace"))
    if problem and case.operation.path.startswith("/api"):
        raise AssertionError(problem)


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy:
    """Often name a seeded post and, on submit, a real label, so submit and undo also reach the
    code past the post and label checks (a generated id or label is nearly never a known one)."""
    if not isinstance(body, dict) or "post_id" not in body:
        return st.just(body)
    known = {"post_id": st.sampled_from(SEEDED_IDS)}
    if context.operation.path == "/api/submit":
        known["label"] = st.sampled_from(LABELS)
    replace = st.fixed_dictionaries({name: st.one_of(st.none(), values) for name, values in known.items()})
    return replace.map(lambda new: {**body, **{name: value for name, value in new.items() if value is not None}})


@schema.parametrize()
@FUZZ_SETTINGS
def test_api_answers_no_5xx_and_only_json_errors(case: schemathesis.Case, api: Api) -> None:
    case.call_and_validate(base_url=api.url, session=api.http, headers=api.headers, allow_redirects=False,
                           timeout=30, checks=[not_a_server_error, api_errors_are_json])


# --- the inputs the issue names ---------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """One request and the field its error must name."""

    field: str
    method: str
    path: str
    params: dict[str, str] | None = None
    body: Any = None
    raw: str | None = None  # JSON text sent as is (for what json.dumps cannot write, e.g. 1e400)

    def send(self, api: Api) -> requests.Response:
        if self.method == "GET":
            return api.get(self.path, params=self.params)
        if self.raw is not None:
            return api.post(self.path, params=self.params, data=self.raw.encode(),
                            headers={"Content-Type": "application/json"})
        return api.post(self.path, params=self.params, json=self.body)

    def __str__(self) -> str:
        sent = self.raw if self.raw is not None else (self.params if self.method == "GET" else self.body)
        return f"{self.method} {self.path} {sent!r}"


NEXT_FIELDS = ("queue", "split", "source", "exclude")
SUBMIT_FIELDS = ("post_id", "label", "split", "queue", "source")


def nul_probes(value: str) -> list[Probe]:
    """``value`` (a string with a NUL byte) in every string field of /api/next, /api/submit and /api/undo."""
    probes = [Probe(name, "GET", "/api/next", params={name: value}) for name in NEXT_FIELDS]
    probes += [Probe(name, "POST", "/api/submit", body={"post_id": "test0002", "label": "ai", name: value})
               for name in SUBMIT_FIELDS]
    probes.append(Probe("post_id", "POST", "/api/undo", body={"post_id": value}))
    probes.append(Probe("split", "GET", "/api/export", params={"split": value}))
    return probes


NAMED = [  # the other inputs the issue names, and two of the same kind
    Probe("n", "GET", "/api/next", params={"n": "0"}),
    Probe("n", "GET", "/api/next", params={"n": "99999999999999999999999"}),
    Probe("n", "GET", "/api/next", params={"n": "\u00b2"}),
    Probe("duration_ms", "POST", "/api/submit", raw='{"post_id": "x", "label": "ai", "duration_ms": 1e400}'),
    Probe("duration_ms", "POST", "/api/submit", raw='{"post_id": "test0003", "label": "ai", "duration_ms": 1e400}'),
    Probe("post_id", "POST", "/api/submit", body={"post_id": ["a"]}),
    Probe("post_id", "POST", "/api/undo", body={"post_id": ["a"]}),
    Probe("split", "GET", "/api/export?split=test%0d%0aX-Injected:%201"),
    Probe("split", "GET", "/api/export?split=test%0d%0aX-Injected:%201&format=csv"),
    Probe("version", "GET", "/api/export", params={"version": "\u00b2"}),
]
LISTED = [*nul_probes("a\x00b"), *NAMED]


def probe_problem(probe: Probe, response: requests.Response) -> str | None:
    """Why ``response`` is not a JSON 4xx error naming ``probe.field`` (None when it is)."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code} (want 4xx): {response.text[:120]!r}"
    problem = json_error_problem(response.status_code, response.headers.get("Content-Type", ""), response.text)
    if problem:
        return problem
    body = response.json()
    if body.get("field") != probe.field and probe.field not in body["error"]:
        return f"the error names neither field nor message {probe.field!r}: {body!r}"
    return None


def test_inputs_named_in_the_issue_get_json_4xx_naming_the_field(api: Api) -> None:
    failures = [f"{probe}: {problem}" for probe in LISTED if (problem := probe_problem(probe, probe.send(api)))]
    assert not failures, f"{len(failures)} of {len(LISTED)} inputs:\n" + "\n".join(failures)


nul_strings = st.builds(lambda a, b: f"{a}\x00{b}", st.text(max_size=8), st.text(max_size=8))
nul_probe = st.builds(lambda value, i: nul_probes(value)[i], nul_strings, st.integers(0, len(nul_probes("")) - 1))


@given(probe=st.one_of(st.sampled_from(NAMED), nul_probe))
@settings(max_examples=80, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_nul_bytes_and_listed_inputs_get_json_4xx(api: Api, probe: Probe) -> None:
    problem = probe_problem(probe, probe.send(api))
    assert problem is None, f"{probe}: {problem}"
