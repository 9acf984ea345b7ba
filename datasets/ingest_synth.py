"""Synthetic Twitter v1.1 statuses, for the ingestion benchmark and the large-file tests.

The statuses have the shape of the streaming API's (user object, entities, ``source`` anchor,
Twitter timestamps); every 3rd is a retweet, every 5th is truncated with an
``extended_tweet``, every 4th carries a ``t.co`` link and some an HTML entity. Deterministic
for a given index.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

_WORDS = ("data science machine learning model deep neural network big game plan sleep weather coffee "
          "python pandas training label golden test dev split cloud music video friends weekend").split()
_EPOCH = datetime(2020, 4, 5, 10, 0, 0, tzinfo=timezone.utc)


def _text(i: int, words: int) -> str:
    return " ".join(_WORDS[(i * 7 + k * 13) % len(_WORDS)] for k in range(words))


def _user(i: int) -> dict:
    return {"id": 10_000 + i % 5000, "id_str": str(10_000 + i % 5000), "name": f"User {i % 5000}",
            "screen_name": f"user{i % 5000}", "location": "Somewhere", "description": _text(i, 12),
            "followers_count": i % 997, "friends_count": i % 301, "statuses_count": i % 12345,
            "created_at": "Mon Jun 07 12:12:34 +0000 2010", "lang": None, "verified": False,
            "profile_image_url_https": f"https://pbs.twimg.com/profile_images/{i % 5000}/a_normal.jpg"}


def status(i: int) -> dict:
    """The ``i``-th synthetic status (tweet id ``1_250_000_000_000_000_000 + i``)."""
    tid = 1_250_000_000_000_000_000 + i
    created = (_EPOCH + timedelta(seconds=i)).strftime("%a %b %d %H:%M:%S +0000 %Y")
    body = _text(i, 18) + (" &amp; more" if i % 7 == 0 else "")
    entities: dict = {"hashtags": [{"text": _WORDS[i % len(_WORDS)], "indices": [0, 1]}], "urls": [],
                      "user_mentions": [], "symbols": []}
    if i % 4 == 0:
        short = f"https://t.co/s{i:08d}"
        body += " " + short
        entities["urls"].append({"url": short, "expanded_url": f"https://example.org/post/{i}",
                                 "display_url": f"example.org/post/{i}", "indices": [0, 23]})
    tweet = {"created_at": created, "id": tid, "id_str": str(tid), "text": body[:140], "source":
             '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
             "truncated": False, "user": _user(i), "geo": None, "coordinates": None, "place": None,
             "is_quote_status": False, "retweet_count": i % 50, "favorite_count": i % 70,
             "entities": entities, "favorited": False, "retweeted": False, "filter_level": "low",
             "lang": "en", "timestamp_ms": str(int((_EPOCH + timedelta(seconds=i)).timestamp() * 1000))}
    if i % 5 == 0 and len(body) > 140:
        tweet["truncated"] = True
        tweet["text"] = body[:139] + "\u2026"
        tweet["extended_tweet"] = {"full_text": body, "display_text_range": [0, len(body)], "entities": entities}
    if i % 3 == 0:
        original = dict(tweet, id=tid - 500_000_000, id_str=str(tid - 500_000_000), user=_user(i + 1))
        tweet = dict(tweet, text=f"RT @user{(i + 1) % 5000}: " + body[:100] + "\u2026", retweeted_status=original,
                     entities={"hashtags": [], "urls": [], "user_mentions": [], "symbols": []})
        tweet.pop("extended_tweet", None)
    return tweet


def write_jsonl_gz(path: Path, rows: int, start: int = 0, level: int = 1) -> Path:
    """Write statuses ``start .. start+rows-1`` as gzip-compressed JSON lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=level) as out:
        for i in range(start, start + rows):
            out.write(json.dumps(status(i), ensure_ascii=False) + "\n")
    return path
