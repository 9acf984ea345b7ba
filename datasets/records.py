"""Turn one source record into one ``raw_posts`` row (a :class:`Post`).

Three shapes are understood:

* Twitter API v1.1 statuses (streaming or REST): the text is ``extended_tweet.full_text`` when
  present, and for retweets the original's full text behind ``RT @author: ``;
* Twitter API v2 tweets, alone or in ``{"data": ..., "includes": ...}`` envelopes: long posts
  use ``note_tweet``, retweets take the original from ``includes.tweets``;
* generic records (JSON objects, CSV or parquet rows) whose id / text / time / author columns
  are named by :class:`Columns`.

Texts are HTML-unescaped, every ``t.co`` link is replaced by its ``expanded_url`` and media
links are moved to ``media_urls``. A record that cannot become a valid row raises
:class:`RecordError` with a reason meant for the rejects file. The limits below are checked
for every post; they are generous for posts but keep a broken record from bloating the table.
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from datasets import jsonout, timestamps

MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 50_000        # a long v2 note tweet holds 25,000 characters before link expansion
MAX_FIELD_CHARS = 1_024        # lang, author, author_id, source_app
MAX_LIST_ITEMS = 1_000         # hashtags, mentions, urls, media_urls (each)
MAX_URL_CHARS = 8_192          # one list item


class RecordError(ValueError):
    """A record that cannot be stored; the message is the reason written to the rejects file."""


@dataclass(frozen=True)
class Columns:
    """Names of the fields of a generic record (JSON object, CSV or parquet row)."""

    id: str = "id"
    text: str = "text"
    time: str = "created_at"
    author: str = "author"
    time_format: str | None = None  # strptime format of the time field (None: recognise common formats)


class Post(NamedTuple):
    """One row for ``raw_posts`` (without the loader's source_file / source_line / batch_id)."""

    id: str
    created_at: str | None      # ISO 8601 with offset
    text: str
    lang: str | None
    author: str | None
    author_id: str | None
    source_app: str | None
    is_retweet: bool
    retweeted_id: str | None
    hashtags: list[str]
    mentions: list[str]
    urls: list[str]
    media_urls: list[str]
    raw: str                    # the original record as JSON text
    time_warning: str | None = None  # why the record's time could not be read (created_at is then None)


# --------------------------------------------------------------------------- dispatch

def posts(obj: Any, raw: str | None, columns: Columns, kind: str = "auto") -> Iterator[Post | RecordError]:
    """Yield the posts of one parsed record, or a :class:`RecordError` for each bad one.

    ``kind`` is ``auto`` (Twitter shapes recognised, anything else read with ``columns``),
    ``twitter`` or ``generic``. ``raw`` is the record's JSON text when it came from a JSON
    source; other records are serialised here. A v2 envelope yields one item per tweet.
    """
    if not isinstance(obj, dict):
        yield RecordError(f"record is {_type(obj)}, expected an object")
        return
    shape = detect(obj) if kind != "generic" else "generic"
    if kind == "twitter" and shape == "generic":
        yield RecordError("not a Twitter v1.1 or v2 object (no id_str/user or data)")
        return
    try:
        if shape == "v2-envelope":
            yield from _v2_envelope(obj)
            return
        if shape == "v1":
            yield _checked(twitter_v1(obj, raw if raw is not None else _dumps(obj)))
        elif shape == "v2":
            yield _checked(twitter_v2(obj, _V2Index({})))
        else:
            yield _checked(generic(obj, raw if raw is not None else _dumps(obj), columns))
    except RecordError as exc:
        yield exc


def detect(obj: dict) -> str:
    """Classify a JSON object: ``v1``, ``v2``, ``v2-envelope`` or ``generic``."""
    if "data" in obj and isinstance(obj["data"], (dict, list)):
        return "v2-envelope"
    if "id_str" in obj or "user" in obj or "delete" in obj or "limit" in obj:
        return "v1"
    if "id" in obj and "text" in obj and not _V2_MARKERS.isdisjoint(obj):
        return "v2"
    return "generic"


_V2_MARKERS = frozenset({"author_id", "edit_history_tweet_ids", "public_metrics", "conversation_id",
                         "referenced_tweets", "note_tweet"})


# --------------------------------------------------------------------------- Twitter v1.1

def twitter_v1(obj: dict, raw: str) -> Post:
    """Build the post of a Twitter v1.1 status object."""
    for notice in ("delete", "limit", "scrub_geo", "status_withheld", "warning"):
        if notice in obj and "text" not in obj:
            raise RecordError(f"stream notice '{notice}', not a post")
    user = _obj(obj, "user")
    retweeted = _obj(obj, "retweeted_status") if obj.get("retweeted_status") is not None else None
    source = retweeted if retweeted is not None else obj
    text, entities, media_entities = _v1_text(source)
    text, urls, media = _expand(text, _list(entities, "urls"), _v1_media(entities, media_entities))
    mentions = [_str(m.get("screen_name")) for m in _list(entities, "user_mentions") if isinstance(m, dict)]
    if retweeted is not None:
        original_author = _opt_str(_obj(retweeted, "user").get("screen_name"), "retweeted_status.user.screen_name")
        if original_author:
            text = f"RT @{original_author}: {text}"
            mentions.insert(0, original_author)
    created, time_warning = _read_time(obj.get("created_at"), "created_at")
    if created is None and obj.get("timestamp_ms") is not None:
        created, late_warning = _read_time(_epoch_ms(obj["timestamp_ms"]), "timestamp_ms")
        time_warning = (time_warning or late_warning) if created is None else None
    return Post(
        id=_tweet_id(obj, "id"),
        created_at=created,
        text=text,
        lang=_opt_str(obj.get("lang"), "lang"),
        author=_opt_str(user.get("screen_name"), "user.screen_name"),
        author_id=_opt_id(user, "user.id"),
        source_app=_source_app(obj.get("source")),
        is_retweet=retweeted is not None,
        retweeted_id=_tweet_id(retweeted, "retweeted_status.id") if retweeted is not None else None,
        hashtags=[_str(h.get("text")) for h in _list(entities, "hashtags") if isinstance(h, dict)],
        mentions=_unique(mentions),
        urls=urls,
        media_urls=media,
        raw=raw,
        time_warning=time_warning,
    )


def _v1_text(status: dict) -> tuple[str, dict, dict]:
    """The full text of a v1.1 status with the entities that describe it."""
    extended = status.get("extended_tweet")
    if isinstance(extended, dict) and "full_text" in extended:
        return _text(extended.get("full_text"), "extended_tweet.full_text"), _obj(extended, "entities"), \
            _obj(extended, "extended_entities")
    key = "full_text" if "full_text" in status else "text"
    return _text(status.get(key), key), _obj(status, "entities"), _obj(status, "extended_entities")


def _v1_media(entities: dict, extended_entities: dict) -> list[tuple[str, str]]:
    """(t.co link, media URL) pairs of a v1.1 status; ``extended_entities`` lists every photo."""
    found = []
    for item in _list(extended_entities, "media") + _list(entities, "media"):
        if isinstance(item, dict):
            target = item.get("media_url_https") or item.get("media_url") or item.get("expanded_url")
            found.append((_str(item.get("url")), _str(target)))
    return found


# --------------------------------------------------------------------------- Twitter v2

class _V2Index:
    """Lookups into a v2 envelope's ``includes`` (users, tweets, media)."""

    def __init__(self, includes: dict):
        self.includes = includes
        self.users = _by_key(includes.get("users"), "id")
        self.tweets = _by_key(includes.get("tweets"), "id")
        self.media = _by_key(includes.get("media"), "media_key")

    def raw(self, tweet: dict, used: list[tuple[str, dict]]) -> str:
        """The tweet with the expansions it uses, as one JSON text."""
        subset: dict[str, list] = {}
        for group, item in used:
            subset.setdefault(group, []).append(item)
        return _dumps({"data": tweet, "includes": subset} if subset else {"data": tweet})


def _v2_envelope(obj: dict) -> Iterator[Post | RecordError]:
    includes = obj.get("includes") if isinstance(obj.get("includes"), dict) else {}
    index = _V2Index(includes)
    data = obj["data"] if isinstance(obj["data"], list) else [obj["data"]]
    for tweet in data:
        try:
            if not isinstance(tweet, dict):
                raise RecordError(f"data item is {_type(tweet)}, expected an object")
            yield _checked(twitter_v2(tweet, index))
        except RecordError as exc:
            yield exc


def twitter_v2(tweet: dict, index: _V2Index) -> Post:
    """Build the post of a Twitter v2 tweet, resolving expansions through ``index``."""
    used: list[tuple[str, dict]] = []
    author = _v2_user(tweet, index, used)
    retweeted_id = None
    source = tweet
    original_author = None
    for ref in _list(tweet, "referenced_tweets"):
        if isinstance(ref, dict) and ref.get("type") == "retweeted":
            retweeted_id = _tweet_id(ref, "referenced_tweets.id")
            original = index.tweets.get(retweeted_id)
            if original is not None:
                used.append(("tweets", original))
                source = original
                original_author = _v2_user(original, index, used).get("username")
    note = source.get("note_tweet") if isinstance(source.get("note_tweet"), dict) else None
    text_holder = note if note is not None and "text" in note else source
    text = _text(text_holder.get("text"), "note_tweet.text" if text_holder is note else "text")
    entities = _obj(text_holder, "entities")
    links, media = [], []
    for item in _list(entities, "urls"):
        if not isinstance(item, dict):
            continue
        if item.get("media_key") or str(item.get("display_url", "")).startswith("pic.twitter.com"):
            found = index.media.get(item.get("media_key"), {})
            if found:
                used.append(("media", found))
            media.append((_str(item.get("url")), _str(found.get("url") or found.get("preview_image_url")
                                                      or item.get("expanded_url"))))
        else:
            links.append(item)
    text, urls, media_urls = _expand(text, links, media)
    for key in _list(_obj(source, "attachments"), "media_keys"):
        found = index.media.get(key)
        if found and (found.get("url") or found.get("preview_image_url")):
            media_urls = _unique(media_urls + [_str(found.get("url") or found.get("preview_image_url"))])
    mentions = [_str(m.get("username")) for m in _list(entities, "mentions") if isinstance(m, dict)]
    created, time_warning = _read_time(tweet.get("created_at"), "created_at")
    return Post(
        id=_tweet_id(tweet, "id"),
        created_at=created,
        text=f"RT @{original_author}: {text}" if original_author else text,
        lang=_opt_str(tweet.get("lang"), "lang"),
        author=_opt_str(author.get("username"), "author.username"),
        author_id=_opt_id(tweet, "author_id") if tweet.get("author_id") is not None else _opt_id(author, "author.id"),
        source_app=_opt_str(tweet.get("source"), "source"),
        is_retweet=retweeted_id is not None,
        retweeted_id=retweeted_id,
        hashtags=[_str(h.get("tag")) for h in _list(entities, "hashtags") if isinstance(h, dict)],
        mentions=_unique([original_author] + mentions),
        urls=urls,
        media_urls=media_urls,
        raw=index.raw(tweet, used),
        time_warning=time_warning,
    )


def _v2_user(tweet: dict, index: _V2Index, used: list[tuple[str, dict]]) -> dict:
    """The author object of a v2 tweet: inline ``author`` (flattened files) or ``includes.users``."""
    if isinstance(tweet.get("author"), dict):
        return tweet["author"]
    user = index.users.get(str(tweet.get("author_id")))
    if user is None:
        return {}
    used.append(("users", user))
    return user


# --------------------------------------------------------------------------- generic records

_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@(\w{1,50})")
_URL = re.compile(r"https?://[^\s<>\"']+")


def generic(obj: dict, raw: str, columns: Columns) -> Post:
    """Build the post of a generic record using the configured column names.

    Hashtags, mentions and URLs are extracted from the text, since such records carry no entities.
    """
    if columns.id not in obj or obj[columns.id] is None or obj[columns.id] == "":
        raise RecordError(f"missing id (column '{columns.id}')")
    if columns.text not in obj or obj[columns.text] is None:
        raise RecordError(f"missing text (column '{columns.text}')")
    text = html.unescape(_text(obj[columns.text], columns.text))
    created, time_warning = _read_time(obj.get(columns.time), columns.time, columns.time_format)
    return Post(
        id=_id_value(obj[columns.id], columns.id),
        created_at=created,
        text=text,
        lang=_opt_str(obj.get("lang"), "lang"),
        author=_opt_id(obj, columns.author),
        author_id=None,
        source_app=None,
        is_retweet=False,
        retweeted_id=None,
        hashtags=_unique(_HASHTAG.findall(text)),
        mentions=_unique(_MENTION.findall(text)),
        urls=_unique(u.rstrip(".,;:!?)") for u in _URL.findall(text)),
        media_urls=[],
        raw=raw,
        time_warning=time_warning,
    )


# --------------------------------------------------------------------------- time

def _read_time(value: Any, field: str, fmt: str | None = None) -> tuple[str | None, str | None]:
    """``(ISO time, None)``, or ``(None, warning)`` when the value cannot be read.

    A post whose time is unreadable is still a post: it is stored with a NULL time and the
    warning is counted, instead of the whole record being rejected for a secondary field.
    """
    try:
        return timestamps.parse_time(value, field, fmt), None
    except timestamps.UnreadableTime as exc:
        return None, str(exc)


def _epoch_ms(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


# --------------------------------------------------------------------------- shared helpers

def _expand(text: str, links: list, media: list[tuple[str, str]]) -> tuple[str, list[str], list[str]]:
    """HTML-unescape ``text``, replace t.co links by their targets and drop media links.

    Unescaping comes first so that an expanded URL's ``&lt`` query parameter is never decoded.
    """
    text = html.unescape(text)
    urls = []
    for item in links:
        if not isinstance(item, dict):
            continue
        short, target = item.get("url"), item.get("expanded_url") or item.get("url")
        if isinstance(short, str) and isinstance(target, str) and target:
            if short:
                text = text.replace(short, target)
            urls.append(_str(target))
    media_urls = []
    for short, target in media:
        if short:
            text = text.replace(short, "")
        if target:
            media_urls.append(target)
    if media:
        text = text.rstrip()
    return text, _unique(urls), _unique(media_urls)


def _checked(post: Post) -> Post:
    """Enforce the size limits and the text rules every stored post obeys."""
    if not post.text.strip():
        raise RecordError("empty text")
    if len(post.id) > MAX_ID_CHARS:
        raise RecordError(f"id longer than {MAX_ID_CHARS} characters")
    if len(post.text) > MAX_TEXT_CHARS:
        raise RecordError(f"text longer than {MAX_TEXT_CHARS} characters ({len(post.text)})")
    for name in ("lang", "author", "author_id", "source_app", "retweeted_id"):
        value = getattr(post, name)
        if value is not None and len(value) > MAX_FIELD_CHARS:
            raise RecordError(f"{name} longer than {MAX_FIELD_CHARS} characters")
    for name in ("hashtags", "mentions", "urls", "media_urls"):
        items = getattr(post, name)
        if items and (len(items) > MAX_LIST_ITEMS or max(map(len, items)) > MAX_URL_CHARS):
            raise RecordError(f"more than {MAX_LIST_ITEMS} {name}" if len(items) > MAX_LIST_ITEMS
                              else f"an item of {name} is longer than {MAX_URL_CHARS} characters")
    raw = clean_json(post.raw)
    return post if raw is post.raw else post._replace(raw=raw)


_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)(\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                          r"|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\u0000)")


def clean_json(text: str) -> str:
    """Make JSON text acceptable to ``jsonb``: drop ``\\u0000`` escapes, replace lone surrogate escapes."""
    if "\\u" in text:
        text = _JSON_ESCAPE.sub(_fix_escape, text)
    return text.replace("\x00", "") if "\x00" in text else text


def replace_surrogates(text: str) -> str:
    """Replace lone surrogate characters (undecodable input, broken escapes) by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _fix_escape(match: re.Match) -> str:
    escape = match.group(2)
    if escape == "\\u0000":
        return match.group(1)
    if len(escape) == 12:  # a valid surrogate pair
        return match.group(0)
    return match.group(1) + "\\ufffd"


def _dumps(obj: Any) -> str:
    """Serialise a record for the ``raw`` column (NaN and infinities become null: ``jsonb`` refuses them)."""
    return jsonout.dumps(obj, ensure_ascii=False)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise RecordError(f"'{field}' is {_type(value)}, expected a string")
    return _str(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        return "" if value is None else str(value)
    return value.replace("\x00", "") if "\x00" in value else value


def _opt_str(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"'{field}' is {_type(value)}, expected a string")
    return _str(value)


def _id_value(value: Any, field: str) -> str:
    """An id as text: strings and integers are accepted; floats lose digits and are refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordError(f"'{field}' is {_type(value)}, expected a string or an integer")
    text = _str(value).strip() if isinstance(value, str) else str(value)
    if not text:
        raise RecordError(f"empty id ('{field}')")
    return text


def _tweet_id(obj: dict, field: str) -> str:
    """A tweet id: ``id_str`` when present (ids overflow doubles), else ``id``."""
    if obj.get("id_str") is not None:
        return _id_value(obj["id_str"], field + "_str")
    if obj.get("id") is None:
        raise RecordError(f"missing id ('{field}')")
    return _id_value(obj["id"], field)


def _opt_id(obj: dict, field: str) -> str | None:
    key = field.rsplit(".", 1)[-1]
    if obj.get(key + "_str") is not None:
        return _id_value(obj[key + "_str"], field + "_str")
    if obj.get(key) is None or obj.get(key) == "":
        return None
    return _id_value(obj[key], field)


_ANCHOR = re.compile(r"<a\b[^>]*>(.*?)</a>", re.S | re.I)


def _source_app(value: Any) -> str | None:
    """The client name inside Twitter's ``<a href=...>Twitter for iPhone</a>`` source field."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"'source' is {_type(value)}, expected a string")
    match = _ANCHOR.search(value)
    return html.unescape(_str(match.group(1) if match else value)).strip() or None


def _obj(parent: dict, key: str) -> dict:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RecordError(f"'{key}' is {_type(value)}, expected an object")
    return value


def _list(parent: dict, key: str) -> list:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RecordError(f"'{key}' is {_type(value)}, expected an array")
    return value


def _by_key(items: Any, key: str) -> dict[str, dict]:
    if not isinstance(items, list):
        return {}
    return {str(item[key]): item for item in items if isinstance(item, dict) and item.get(key) is not None}


def _unique(items: Any) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def _snip(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
