"""The URL store: link normalisation (properties), links recorded by ingestion exactly once, and
bin/urls.sh's report, filters, exports and refusals on real PostgreSQL and real files."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from hypothesis import given, settings, strategies as st

from datasets import urls
from datasets.ingest import ingest_paths
from datasets.store import sql, urls as url_store
from tests.support.feeds import tweet

_hosts = st.from_regex(r"\A(www\.)?[a-z0-9]{1,12}(\.[a-z]{2,6}){1,2}\Z")
_paths = st.from_regex(r"\A(/[A-Za-z0-9._~%-]{0,10}){0,4}\Z")
_params = st.lists(st.tuples(st.sampled_from(["q", "id", "page", "utm_source", "utm_Campaign", "fbclid", "gclid", "x"]),
                             st.from_regex(r"\A[a-z0-9]{0,6}\Z")), max_size=5)


def _url(scheme: str, host: str, port: str, path: str, params: list[tuple[str, str]], fragment: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params)
    return f"{scheme}://{host}{port}{path}{'?' + query if query else ''}{'#' + fragment if fragment else ''}"


_links = st.builds(_url, st.sampled_from(["http", "https", "HTTP", "HtTpS"]), _hosts,
                   st.sampled_from(["", ":80", ":443", ":8080"]), _paths, _params, st.from_regex(r"\A[a-z]{0,5}\Z"))


@settings(max_examples=300, deadline=None)
@given(_links)
def test_normalise_is_idempotent_and_drops_what_does_not_name_the_page(link):
    first = urls.normalise(link)
    assert first is not None
    assert urls.normalise(first.url) == first
    assert "#" not in first.url
    assert "utm_" not in first.url.lower() and "fbclid" not in first.url and "gclid" not in first.url
    assert first.url.split("://")[0] in ("http", "https")
    assert not first.domain.startswith("www.")
    assert first.domain == first.domain.lower()
    assert not first.url.startswith("http://") or ":80/" not in first.url
    assert not first.url.startswith("https://") or ":443/" not in first.url


@settings(max_examples=200, deadline=None)
@given(_links, st.sampled_from(["HOST", "UPPER", "NONE"]))
def test_spellings_of_one_link_normalise_alike(link, case):
    host = link.split("://", 1)[1].split("/", 1)[0].split("?")[0].split("#")[0]
    variant = link.replace(host, host.upper(), 1) if case == "HOST" else link
    variant = (variant.split("://", 1)[0].upper() + "://" + variant.split("://", 1)[1]) if case == "UPPER" else variant
    assert urls.normalise(variant) == urls.normalise(link)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_anything_normalises_or_is_refused_without_raising(text):
    link = urls.normalise(text)
    assert link is None or link.url.startswith(("http://", "https://"))


def test_examples():
    assert urls.normalise("HTTP://WWW.Example.COM:80/a/B?utm_source=x&q=1&fbclid=2#top") == \
        urls.Link("http://www.example.com/a/B?q=1", "example.com")
    assert urls.normalise("https://user:secret@news.bbc.co.uk:443") == urls.Link("https://news.bbc.co.uk/", "news.bbc.co.uk")
    assert urls.normalise("https://x.org:8443/p?b=2&a=1") == urls.Link("https://x.org:8443/p?b=2&a=1", "x.org")
    for refused in ("ftp://x.org/f", "mailto:a@b.c", "http://", "http://x.org:port/", "not a url", "",
                    "http://exa mple.com/", "https://" + "a" * 5000 + ".com"):
        assert urls.normalise(refused) is None, refused
    # a link also attached as media counts as media, once
    pairs = urls.post_links(["https://pic.example/1#a", "https://a.org/?utm_medium=x"], ["https://pic.example/1"])
    assert [(link.url, media) for link, media in pairs] == [("https://pic.example/1", True), ("https://a.org/", False)]


def _links(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {row["url"]: dict(row) for row in conn.execute(sa.text("SELECT * FROM urls")).mappings()}


def test_ingestion_records_links_once_per_post(engine, tmp_path):
    first = tmp_path / "a.jsonl"
    first.write_text("\n".join([
        tweet(1, ["https://Example.com/story?utm_source=tw", "https://other.org/x"], created="Sun Apr 05 10:00:00 +0000 2020"),
        tweet(2, ["https://www.example.com/story", "https://example.com/story#comments"],
               ["https://pbs.twimg.com/media/1.jpg"], created="Mon Apr 06 10:00:00 +0000 2020"),
        tweet(1, ["https://dup.example/ignored"]),  # the same id again: a duplicate, its links ignored
    ]) + "\n")
    ingest_paths([first], progress=False)
    ingest_paths([first], progress=False)  # a re-run inserts nothing and counts nothing twice
    links = _links(engine)
    assert set(links) == {"https://example.com/story", "https://other.org/x", "https://www.example.com/story",
                          "https://pbs.twimg.com/media/1.jpg"}
    story = links["https://example.com/story"]
    assert story["n_posts"] == 2 and story["domain"] == "example.com" and not story["is_media"]
    assert story["first_seen"].day == 5 and story["last_seen"].day == 6
    assert links["https://www.example.com/story"]["domain"] == "example.com"
    assert links["https://pbs.twimg.com/media/1.jpg"]["is_media"]
    with engine.connect() as conn:
        assert url_store.count_links(conn) == 5
        # the writer is idempotent when called again on stored posts
    with sql.transaction(engine) as conn:
        url_store.add_stored_posts(conn, ["1001", "1002"])
    assert _links(engine)["https://example.com/story"]["n_posts"] == 2


URLS = str(Path(__file__).resolve().parent.parent / "bin" / "urls.sh")
TASK = """name = "linktask"
labels = ["ham", "spam"]
"""


def _urls_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([URLS, *args], capture_output=True, text=True, timeout=120)


def test_urls_command_counts_labels_filters_and_exports(engine, tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text("\n".join([
        tweet(1, ["https://spam.example/win?utm_source=a"], created="Sun Apr 05 10:00:00 +0000 2020"),
        tweet(2, ["https://spam.example/win", "https://news.example.org/a"]),
        tweet(3, ["https://news.example.org/a", "https://www.news.example.org/b"], ["https://img.example/p.jpg"]),
        tweet(4, ["https://blog.news.example.org/c"], created="Thu Apr 07 10:00:00 +0000 2022"),
    ]) + "\n")
    ingest_paths([feed], progress=False)
    task = tmp_path / "task.toml"
    task.write_text(TASK)
    with sql.transaction(engine) as conn:
        conn.execute(sa.text("INSERT INTO predictions (task, source, post_id, label, confidence, run_ref)"
                             " VALUES ('linktask', 'production', :p, :l, 0.9, '1')"),
                     [{"p": "1001", "l": "spam"}, {"p": "1002", "l": "spam"}, {"p": "1003", "l": "ham"}])

    out = _urls_cli("--task", str(task), "--json", "--top", "0")
    assert out.returncode == 0, out.stderr
    rows = {r["url"]: r for r in json.loads(out.stdout)["urls"]}
    assert rows["https://spam.example/win"]["n_posts"] == 2
    assert rows["https://spam.example/win"]["labels"] == {"spam": 2}
    assert rows["https://news.example.org/a"]["labels"] == {"spam": 1, "ham": 1}
    assert rows["https://blog.news.example.org/c"]["labels"] == {}

    spam = json.loads(_urls_cli("--task", str(task), "--json", "--label", "spam").stdout)["urls"]
    assert [r["url"] for r in spam] == ["https://spam.example/win", "https://news.example.org/a"]
    domain = json.loads(_urls_cli("--task", str(task), "--json", "--domain", "WWW.News.Example.org").stdout)["urls"]
    assert {r["url"] for r in domain} == {"https://news.example.org/a", "https://www.news.example.org/b",
                                          "https://blog.news.example.org/c"}
    media = json.loads(_urls_cli("--task", str(task), "--json", "--media").stdout)["urls"]
    assert [r["url"] for r in media] == ["https://img.example/p.jpg"]
    recent = json.loads(_urls_cli("--task", str(task), "--json", "--since", "2021-01-01", "--top", "1").stdout)["urls"]
    assert [r["url"] for r in recent] == ["https://blog.news.example.org/c"]

    for ext in ("parquet", "csv", "jsonl"):
        path = tmp_path / f"links.{ext}"
        done = _urls_cli("--task", str(task), "--out", str(path), "--top", "0")
        assert done.returncode == 0, done.stderr
        frame = (pd.read_parquet(path) if ext == "parquet" else pd.read_csv(path) if ext == "csv"
                 else pd.read_json(path, lines=True))
        assert len(frame) == 5 and list(frame.columns)[:2] == ["url", "domain"]
    assert "spam.example/win" in _urls_cli("--task", str(task)).stdout


def test_urls_command_refuses_bad_input_naming_the_option(engine, tmp_path):
    task = tmp_path / "task.toml"
    task.write_text(TASK)
    for args, named in ((["--label", "eggs"], "--label"), (["--since", "yesterday"], "--since"),
                        (["--top", "-1"], "--top"), (["--domain", "a b"], "--domain"),
                        (["--out", str(tmp_path / "x.xlsx")], "--out"),
                        (["--out", str(tmp_path / "missing" / "x.csv")], "--out"),
                        (["--top", "many"], "--top"), (["--source", "gut"], "--source"), (["--media", "--links"], "--links")):
        done = _urls_cli("--task", str(task), *args)
        assert done.returncode == 1, (args, done.stdout)
        assert named in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
