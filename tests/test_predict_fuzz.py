"""No input makes the predict API answer 5xx or a non-JSON error: Schemathesis sends requests
generated from docs/predict-api.yaml (valid and invalid) with a real token to a real granian
server on real PostgreSQL, plus the responses must match the schema. Bounded and derandomized,
like tests/test_tagger_fuzz.py."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from models import registry
from tests.conftest import REPO_ROOT
from tests.support.predict import PredictServer, auth, new_token
from tests.support.registry import train_runs
from tests.test_tagger_fuzz import json_error_problem

MAX_EXAMPLES = 60
CONFIG = schemathesis.Config.from_dict({
    "seed": 13,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                   "with-security-parameters": False},  # the real token is sent instead
})
schema = schemathesis.openapi.from_path(REPO_ROOT / "docs" / "predict-api.yaml", config=CONFIG)
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


@pytest.fixture()
def served(engine: sa.engine.Engine, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A server with a promoted tiny model; its URL and a valid token's header."""
    trained = train_runs(engine, tmp_path, 1)
    registry.promote(engine, trained.world.task, trained.runs[0], actor="fuzz", reason="fuzz")
    token = new_token()
    server = PredictServer(trained.world.task.path).start()
    try:
        server.wait_ready(trained.runs[0])
        yield server.url, auth(token)
    finally:
        server.stop()


@schemathesis.check
def errors_are_json(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every error is a JSON object with an 'error' message (and a string 'field' when present)."""
    problem = json_error_problem(response.status_code, response.headers.get("content-type", [""])[0],
                                 response.content.decode("utf-8", "replace"))
    if problem:
        raise AssertionError(problem)


@schema.parametrize()
@FUZZ_SETTINGS
def test_predict_api_answers_no_5xx_and_only_json_errors(case: schemathesis.Case, served) -> None:
    url, headers = served
    case.call_and_validate(base_url=url, headers=headers, timeout=30,
                           checks=[not_a_server_error, errors_are_json, response_schema_conformance])


def test_limits_at_the_edge_of_the_documented_defaults(served) -> None:
    url, headers = served
    at_limit = requests.post(f"{url}/v1/predict", json={"texts": ["z" * 5000] * 1000}, headers=headers)
    assert at_limit.status_code == 200 and len(at_limit.json()["predictions"]) == 1000
    over = requests.post(f"{url}/v1/predict", json={"texts": ["z"] * 1001}, headers=headers)
    assert (over.status_code, over.json()["field"]) == (413, "texts")
    long_text = requests.post(f"{url}/v1/predict", json={"posts": [{"id": "a", "text": "z" * 5001}]}, headers=headers)
    assert (long_text.status_code, long_text.json()["field"]) == (422, "posts.0.text")
