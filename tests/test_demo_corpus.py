"""The committed demo corpus: reproducible from its generator, valid Twitter v1.1 JSON, gold labels
for every post, and it ingests and splits end to end through the real commands."""
from __future__ import annotations

import csv
import gzip
import html
import json
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from datasets import split_files
from datasets.demo import GOLD_PATH, TWEETS_PATH, generate
from datasets.normalize import normalize_text
from labeling.task import DEFAULT_TASK, load_task

REPO_ROOT = Path(__file__).resolve().parent.parent
TCO = re.compile(r"^https://t\.co/\w+$")
ANCHOR = re.compile(r'^<a href="https?://[^"]+" rel="nofollow">[^<]+</a>$')


@pytest.fixture(scope="module")
def tweets() -> list[dict]:
    with gzip.open(TWEETS_PATH, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.fixture(scope="module")
def gold() -> dict[str, str]:
    with GOLD_PATH.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and list(rows[0]) == ["id", "label"]
    return {row["id"]: row["label"] for row in rows}


def full_text(tweet: dict) -> str:
    """The untruncated, unescaped text of an original post."""
    return html.unescape(tweet.get("extended_tweet", {}).get("full_text", tweet["text"]))


def test_committed_files_are_the_generator_output(tmp_path: Path) -> None:
    assert generate.main(["--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / TWEETS_PATH.name).read_bytes() == TWEETS_PATH.read_bytes()
    assert (tmp_path / GOLD_PATH.name).read_bytes() == GOLD_PATH.read_bytes()
    assert TWEETS_PATH.stat().st_size < 1_000_000


def check_entities(text: str, entities: dict) -> None:
    for tag in entities["hashtags"]:
        assert text[slice(*tag["indices"])] == "#" + tag["text"]
    for mention in entities["user_mentions"]:
        assert text[slice(*mention["indices"])] == "@" + mention["screen_name"]
    for url in entities["urls"] + entities.get("media", []):
        assert TCO.match(url["url"]) and text[slice(*url["indices"])] == url["url"]
        assert url["expanded_url"].startswith("https://") and url["display_url"]


def check_tweet(tweet: dict) -> None:
    assert isinstance(tweet["id"], int) and tweet["id_str"] == str(tweet["id"])
    datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y")
    assert ANCHOR.match(tweet["source"]) and tweet["lang"] in {"en", "fr", "es", "de"}
    assert tweet["user"]["screen_name"] and tweet["user"]["id_str"] == str(tweet["user"]["id"])
    assert len(html.unescape(tweet["text"])) <= 140
    check_entities(tweet["text"], tweet["entities"])
    if tweet["truncated"]:
        extended = tweet["extended_tweet"]
        assert len(extended["full_text"]) > 140 and extended["display_text_range"] == [0, len(extended["full_text"])]
        assert tweet["text"].split("… ")[0] in extended["full_text"]
        status_link = tweet["entities"]["urls"][-1]
        assert status_link["expanded_url"] == f"https://twitter.com/i/web/status/{tweet['id']}"
        check_entities(extended["full_text"], extended["entities"])
    else:
        assert "extended_tweet" not in tweet


def test_corpus_is_twitter_v1_json(tweets: list[dict]) -> None:
    assert len(tweets) >= 1200
    for tweet in tweets:
        check_tweet(tweet)
        original = tweet.get("retweeted_status")
        if original:
            check_tweet(original)
            prefix = f"RT @{original['user']['screen_name']}: "
            assert tweet["text"].startswith(prefix) and tweet["lang"] == original["lang"]
            assert full_text(original).startswith(html.unescape(tweet["text"][len(prefix):]).rstrip("…"))
    kinds = {"retweets": sum("retweeted_status" in t for t in tweets),
             "truncated": sum(t["truncated"] for t in tweets),
             "links": sum(bool(t["entities"]["urls"]) for t in tweets),
             "escaped": sum("&amp;" in t["text"] for t in tweets),
             "non_english": sum(t["lang"] != "en" for t in tweets)}
    assert all(n >= 50 for n in kinds.values()), kinds


def test_gold_covers_every_post(tweets: list[dict], gold: dict[str, str]) -> None:
    task = load_task(DEFAULT_TASK)
    ids = [t["id_str"] for t in tweets]
    assert len(set(ids)) == len(ids) and set(ids) == set(gold)
    assert set(gold.values()) == set(task.labels)
    share = list(gold.values()).count(task.positive) / len(gold)
    assert 0.25 <= share <= 0.35
    by_id = {t["id_str"]: t for t in tweets}
    for tweet in tweets:
        original = tweet.get("retweeted_status")
        if original and original["id_str"] in by_id:
            assert gold[tweet["id_str"]] == gold[original["id_str"]]


def test_copies_give_dedup_work_and_traps_fool_keywords(tweets: list[dict], gold: dict[str, str]) -> None:
    texts = [full_text(t.get("retweeted_status", t)) for t in tweets]
    assert len(tweets) - len({normalize_text(t) for t in texts}) >= 200
    keywords = re.compile(r"\b(ai|data|model|neural|deep|learning|python|transformers?|forest|cloud)\b", re.I)
    hits = [bool(keywords.search(t)) == (gold[tw["id_str"]] == "ai") for t, tw in zip(texts, tweets)]
    assert 0.6 <= sum(hits) / len(hits) <= 0.9  # keywords alone are not enough


@pytest.mark.slow
def test_demo_corpus_ingests_and_splits(engine: sa.engine.Engine, tweets: list[dict], gold: dict[str, str]) -> None:
    ingest = subprocess.run([REPO_ROOT / "bin/ingest.sh", TWEETS_PATH, "--json", "--quiet"],
                            capture_output=True, text=True)
    assert ingest.returncode == 0, ingest.stderr
    assert json.loads(ingest.stdout)["inserted"] == len(tweets)
    split = subprocess.run([REPO_ROOT / "bin/split.sh", "--test", "200", "--dev", "100", "--lf", "400",
                            "--seed", "1", "--json", "--quiet"], capture_output=True, text=True)
    assert split.returncode == 0, split.stderr
    result = json.loads(split.stdout)
    assert result["source_posts"] == len(tweets) and result["duplicates_dropped"] >= 200
    counts = result["counts"]
    assert counts["test"] == 200 and counts["dev"] == 100 and counts["lf"] == 400
    assert sum(counts.values()) == len(tweets) - result["duplicates_dropped"]
    frames = pd.concat([split_files.read_split(result["version"], s) for s in split_files.SPLITS])
    assert frames["id"].is_unique and frames["norm_hash"].is_unique
    assert set(frames["id"]) <= set(gold)
    assert not frames["text"].str.contains("&amp;").any()  # ingestion unescapes; exports keep its text
