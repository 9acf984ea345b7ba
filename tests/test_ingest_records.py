"""Record mapping (datasets.records): Twitter v1.1 / v2 shapes, generic columns, validation."""
from __future__ import annotations

import json

import pytest

from datasets import records
from datasets.records import Columns, RecordError


def _v1(**extra) -> dict:
    tweet = {"created_at": "Sun Apr 05 10:46:44 +0000 2020", "id": 1246751115510587392,
             "id_str": "1246751115510587392", "text": "plain &amp; simple", "lang": "en",
             "source": '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
             "user": {"id": 42, "id_str": "42", "screen_name": "alice"},
             "entities": {"hashtags": [], "urls": [], "user_mentions": []}}
    tweet.update(extra)
    return tweet


def _one(obj: dict, columns: Columns = Columns(), kind: str = "auto") -> records.Post:
    (item,) = list(records.posts(obj, json.dumps(obj), columns, kind))
    if isinstance(item, RecordError):
        raise item
    return item


def test_v1_plain_fields_unescaped_and_source_app_stripped():
    post = _one(_v1())
    assert post.id == "1246751115510587392"
    assert post.text == "plain & simple"
    assert post.created_at == "2020-04-05T10:46:44+00:00"
    assert (post.author, post.author_id, post.lang) == ("alice", "42", "en")
    assert post.source_app == "Twitter for iPhone"
    assert not post.is_retweet and post.retweeted_id is None


def test_v1_truncated_text_uses_extended_tweet_and_expands_its_links():
    full = "A long text about machine learning &lt;3 that goes on https://t.co/abc #ML @bob"
    post = _one(_v1(text="A long text about machine\u2026 https://t.co/self", truncated=True,
                    entities={"urls": [{"url": "https://t.co/self", "expanded_url": "https://twitter.com/i/web/status/1"}]},
                    extended_tweet={"full_text": full, "entities": {
                        "urls": [{"url": "https://t.co/abc", "expanded_url": "https://example.org/a?x=1&lt=2"}],
                        "hashtags": [{"text": "ML"}], "user_mentions": [{"screen_name": "bob"}]}}))
    assert post.text == ("A long text about machine learning <3 that goes on https://example.org/a?x=1&lt=2 #ML @bob")
    assert post.urls == ["https://example.org/a?x=1&lt=2"]
    assert post.hashtags == ["ML"] and post.mentions == ["bob"]


def test_v1_retweet_takes_the_originals_full_text_and_entities():
    original = _v1(id_str="111", text="orig trunc\u2026", truncated=True, user={"screen_name": "carol", "id_str": "7"},
                   extended_tweet={"full_text": "orig full text with https://t.co/x",
                                   "entities": {"urls": [{"url": "https://t.co/x", "expanded_url": "https://ex.com/x"}]},
                                   "extended_entities": {"media": [{"url": "https://t.co/m",
                                                                    "media_url_https": "https://pbs.twimg.com/a.jpg"}]}})
    post = _one(_v1(text="RT @carol: orig trunc\u2026", retweeted_status=original))
    assert post.is_retweet and post.retweeted_id == "111"
    assert post.text == "RT @carol: orig full text with https://ex.com/x"
    assert post.urls == ["https://ex.com/x"]
    assert post.media_urls == ["https://pbs.twimg.com/a.jpg"]
    assert post.mentions[0] == "carol"
    assert post.author == "alice"


def test_v1_media_links_leave_the_text():
    post = _one(_v1(text="look https://t.co/pic", extended_entities={"media": [
        {"url": "https://t.co/pic", "media_url_https": "https://pbs.twimg.com/1.jpg"},
        {"url": "https://t.co/pic", "media_url_https": "https://pbs.twimg.com/2.jpg"}]}))
    assert post.text == "look"
    assert post.media_urls == ["https://pbs.twimg.com/1.jpg", "https://pbs.twimg.com/2.jpg"]


def test_v2_envelope_with_includes_note_tweet_and_retweet():
    page = {
        "data": [
            {"id": "1", "text": "RT @dan: short\u2026", "author_id": "10", "created_at": "2023-01-02T03:04:05.000Z",
             "lang": "en", "referenced_tweets": [{"type": "retweeted", "id": "2"}]},
            {"id": "3", "text": "long post start\u2026", "author_id": "11",
             "note_tweet": {"text": "long post start and the whole rest https://t.co/n",
                            "entities": {"urls": [{"url": "https://t.co/n", "expanded_url": "https://n.org/"}],
                                         "hashtags": [{"tag": "AI"}]}}},
            {"id": "4", "text": 5},
        ],
        "includes": {"users": [{"id": "10", "username": "erin"}, {"id": "11", "username": "finn"},
                               {"id": "12", "username": "dan"}],
                     "tweets": [{"id": "2", "author_id": "12", "text": "the original &amp; full text https://t.co/p",
                                 "entities": {"urls": [{"url": "https://t.co/p", "expanded_url": "https://x.com/p/photo/1",
                                                        "media_key": "3_9"}]}}],
                     "media": [{"media_key": "3_9", "type": "photo", "url": "https://pbs.twimg.com/p.jpg"}]},
    }
    retweet, note, bad = list(records.posts(page, None, Columns()))
    assert retweet.text == "RT @dan: the original & full text"
    assert retweet.is_retweet and retweet.retweeted_id == "2" and retweet.author == "erin"
    assert retweet.media_urls == ["https://pbs.twimg.com/p.jpg"]
    assert retweet.created_at == "2023-01-02T03:04:05+00:00"
    assert note.text == "long post start and the whole rest https://n.org/" and note.hashtags == ["AI"]
    assert note.author == "finn"
    assert json.loads(note.raw)["data"]["id"] == "3"
    assert isinstance(bad, RecordError) and "'text' is a number" in str(bad)


def test_generic_columns_and_extracted_entities():
    row = {"COMMENT_ID": "z1", "CONTENT": "check #music at https://x.io/a, @bob", "DATE": "2013-11-07T06:20:48",
           "AUTHOR": "Julius"}
    post = _one(row, Columns(id="COMMENT_ID", text="CONTENT", time="DATE", author="AUTHOR"))
    assert (post.id, post.author, post.created_at) == ("z1", "Julius", "2013-11-07T06:20:48+00:00")
    assert post.hashtags == ["music"] and post.mentions == ["bob"] and post.urls == ["https://x.io/a"]


@pytest.mark.parametrize("obj, reason", [
    ({"id": "1", "text": 12}, "'text' is a number"),
    ({"id": {"a": 1}, "text": "x"}, "'id' is an object"),
    ({"id": 1.5, "text": "x"}, "'id' is a number"),
    ({"id": "1", "text": "   "}, "empty text"),
    ({"id": "1"}, "missing text"),
    ({"text": "hello"}, "missing id"),
    ({"id": "1", "text": "x" * (records.MAX_TEXT_CHARS + 1)}, "text longer than"),
    ({"id": "1" * 300, "text": "x"}, "id longer than"),
])
def test_generic_rejections(obj, reason):
    with pytest.raises(RecordError, match=reason.replace("(", r"\(")):
        _one(obj, kind="generic")


@pytest.mark.parametrize("value", ["yesterday", "Sun Foo 05 10:46:44 +0000 2020", {"a": 1}])
def test_an_unreadable_time_keeps_the_post_with_no_time_and_a_warning(value):
    post = _one({"id": "1", "text": "x", "created_at": value}, kind="generic")
    assert post.created_at is None and post.time_warning.startswith("unreadable timestamp in 'created_at'")
    tweet = _one({"id_str": "2", "text": "y", "user": {}, "created_at": value, "timestamp_ms": "1586083604000"})
    assert tweet.created_at == "2020-04-05T10:46:44+00:00" and tweet.time_warning is None  # the fallback read it


def test_clean_json_drops_nul_and_lone_surrogate_escapes_but_keeps_pairs_and_escaped_backslashes():
    text = r'{"a": "x\u0000y", "b": "\ud83d\ude00", "c": "\ud800", "d": "\\u0000"}'
    cleaned = records.clean_json(text)
    assert json.loads(cleaned) == {"a": "xy", "b": "\U0001F600", "c": "\ufffd", "d": "\\u0000"}


def test_bare_v2_tweet_with_inline_author_as_flattened_tools_write_it():
    tweet = {"id": "9", "text": "flat &gt; nested", "author_id": "3", "author": {"id": "3", "username": "flat"},
             "created_at": "2022-06-01T12:00:00.000Z", "edit_history_tweet_ids": ["9"]}
    post = _one(tweet, kind="twitter")
    assert (post.id, post.text, post.author, post.author_id) == ("9", "flat > nested", "flat", "3")
    with pytest.raises(RecordError, match="not a Twitter"):
        _one({"id": "1", "text": "generic"}, kind="twitter")
