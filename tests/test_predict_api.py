"""The predict API (bin/serve.sh, models/serving/) as a real granian server on real PostgreSQL with
tiny trained models: tokens, inputs and limits, readiness, and reloading on promotion."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import requests

from models import registry
from tests.conftest import REPO_ROOT
from tests.support.predict import PredictServer, auth, new_token
from tests.support.registry import train_runs


def test_tokens_inputs_and_limits(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 1)
    run = trained.runs[0]
    registry.promote(engine, trained.world.task, run, actor="t", reason="serve it")
    token = new_token("alice")
    added = subprocess.run([str(REPO_ROOT / "bin" / "token.sh"), "add", "bob"], capture_output=True, text=True)
    bob = added.stdout.split()[2]
    assert added.returncode == 0 and len(bob) >= 40
    server = PredictServer(trained.world.task.path, ["--max-texts", "3", "--max-text-chars", "40",
                                                     "--max-body-bytes", "2000"]).start()
    try:
        server.wait_ready(run)
        url = f"{server.url}/v1/predict"
        assert requests.get(f"{server.url}/healthz").json() == {"status": "ok"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}):
            refused = requests.post(url, json={"texts": ["x"]}, headers=headers)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in refused.json()["error"]
        texts = requests.post(url, json={"texts": ["subscribe to my channel", "love this song"]}, headers=auth(token))
        assert texts.status_code == 200, texts.text
        got = texts.json()
        assert got["run_id"] == run and [p["label"] for p in got["predictions"]] == ["spam", "ham"]
        first = got["predictions"][0]
        assert first["id"] is None and first["run_id"] == run and set(first["probs"]) == {"ham", "spam"}
        assert abs(sum(first["probs"].values()) - 1) < 1e-5
        posts = requests.post(url, json={"posts": [{"id": "a1", "text": "free money on my channel"}]},
                              headers=auth(bob)).json()
        assert [(p["id"], p["label"]) for p in posts["predictions"]] == [("a1", "spam")]
        assert requests.post(url, json={"texts": []}, headers=auth(token)).json()["predictions"] == []
        model = requests.get(f"{server.url}/v1/model", headers=auth(token)).json()
        assert (model["task"], model["labels"], model["run_id"]) == ("spamtest", ["ham", "spam"], run)
        assert model["golden_test"]["n"] == 40
        for body, status, field in (({"texts": ["a"] * 4}, 413, "texts"),
                                    ({"posts": [{"id": "p", "text": "b"}] * 4}, 413, "posts"),
                                    ({"texts": ["ok", "x" * 41]}, 422, "texts.1"),
                                    ({"posts": [{"id": "p", "text": "x" * 41}]}, 422, "posts.0.text"),
                                    ({"texts": ["a"], "posts": []}, 422, None),
                                    ({}, 422, None), ({"texts": [1]}, 422, "texts.0"),
                                    ({"posts": [{"text": "no id"}]}, 422, "posts.0.id"), ([], 400, None)):
            answer = requests.post(url, json=body, headers=auth(token))
            assert (answer.status_code, answer.json().get("field")) == (status, field), (body, answer.text)
        assert requests.post(url, data="not json", headers=auth(token)).status_code == 400
        too_big = requests.post(url, json={"texts": ["y" * 3000]}, headers=auth(token))
        assert too_big.status_code == 413 and "error" in too_big.json()
        assert requests.get(f"{server.url}/v1/nothing", headers=auth(token)).json()["error"]
        revoked = subprocess.run([str(REPO_ROOT / "bin" / "token.sh"), "revoke", "bob"], capture_output=True, text=True)
        assert revoked.returncode == 0, revoked.stderr
        time.sleep(1.2)  # servers re-read the active tokens at most once a second
        assert requests.post(url, json={"texts": ["x"]}, headers=auth(bob)).status_code == 401
        assert requests.post(url, json={"texts": ["x"]}, headers=auth(token)).status_code == 200
        listed = subprocess.run([str(REPO_ROOT / "bin" / "token.sh"), "list", "--json"], capture_output=True, text=True)
        records = {t["name"]: t for t in json.loads(listed.stdout)["tokens"]}
        assert records["bob"]["revoked_at"] and not records["alice"]["revoked_at"] and records["alice"]["last_used_at"]
        assert token not in listed.stdout and bob not in listed.stdout
    finally:
        server.stop()


def test_ready_only_with_a_model_and_reloads_on_promotion_without_failing_a_request(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 2)
    task, (first, second) = trained.world.task, trained.runs
    token = new_token()
    server = PredictServer(task.path).start()
    try:
        not_ready = requests.get(f"{server.url}/readyz")
        assert not_ready.status_code == 503 and "bin/model.sh promote" in not_ready.json()["error"]
        assert requests.post(f"{server.url}/v1/predict", json={"texts": ["x"]}, headers=auth(token)).status_code == 503
        registry.promote(engine, task, first, actor="t", reason="first")
        server.wait_ready(first)
        answers: list[tuple[int, int | None]] = []
        stop = threading.Event()

        def client() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    r = session.post(f"{server.url}/v1/predict", json={"texts": ["subscribe now"]}, headers=auth(token))
                    answers.append((r.status_code, r.json().get("run_id")))

        sender = threading.Thread(target=client)
        sender.start()
        time.sleep(0.5)
        registry.promote(engine, task, second, actor="t", reason="second")
        server.wait_ready(second)
        registry.rollback(engine, task, actor="t", reason="back")
        server.wait_ready(first)
        time.sleep(0.3)
        stop.set()
        sender.join(timeout=30)
        assert answers and {status for status, _ in answers} == {200}
        served = [run for _, run in answers]
        assert served[0] == first and second in served and served[-1] == first
    finally:
        server.stop()
