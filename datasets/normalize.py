"""Text normalization for duplicate detection across data-set splits.

Two posts are copies when their normalized texts are equal. Normalization:

1. HTML entities are unescaped (``&amp;`` -> ``&``) and Unicode is NFKC-folded (full-width
   and compatibility characters become their plain forms);
2. leading retweet prefixes ``RT @user:`` are dropped (repeatedly: ``RT @a: RT @b: ...``);
3. URLs (``http(s)://...`` and ``www....``) are dropped, so one text posted with different
   links or tracking parameters is one text;
4. case is folded (``str.casefold``);
5. whitespace runs become one space, and the ends are stripped.

Punctuation is kept on purpose: it carries meaning in this domain ("C++" vs "C", "3.5" vs
"35", a question vs a statement), and bots' exact copies differ in links, case or spacing,
not in punctuation. The one exception is a trailing ellipsis (``...`` or ``…``) left where a
link or a truncated tail was, which is dropped.
"""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata

_RETWEET_PREFIX = re.compile(r"^(?:\s*RT\s+@\w+\s*:?\s*)+", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_TRAILING_ELLIPSIS = re.compile(r"\s*(?:…|\.\.\.)$")


def normalize_text(text: str) -> str:
    """Return the normalized form of ``text`` used to detect copies (see the module docstring)."""
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = _RETWEET_PREFIX.sub("", text)
    text = _URL.sub(" ", text).casefold()
    text = _WHITESPACE.sub(" ", text).strip()
    return _TRAILING_ELLIPSIS.sub("", text)


def norm_hash(text: str) -> str:
    """The md5 hex digest of ``normalize_text(text)``: the dedup key stored in ``split_members``."""
    return hashlib.md5(normalize_text(text).encode("utf-8")).hexdigest()
