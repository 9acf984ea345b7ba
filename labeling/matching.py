"""What a keyword matches, as Python regular expressions, and a fast superset filter for Arrow.

A keyword term matches case-insensitively when it is not glued to word characters on either
side; whitespace inside a term matches any run of whitespace. Terms are hashtag-aware: on any
field, ``#`` followed by the term without spaces also matches (``#MachineLearning`` counts for
"machine learning"), and on the ``hashtags`` field the term is compared without spaces.

The exact semantics are the Python patterns below. The vectorized applier only uses
:func:`prefilter` (RE2 via Arrow, one pass over a column) to skip rows that cannot match, then
confirms the rest with the exact pattern, so its result is always the Python result.
"""
from __future__ import annotations

import re

_WORDCHAR_ASCII = "0-9A-Za-z_"
_BOUNDARY_BEFORE = f"(?:^|[^{_WORDCHAR_ASCII}])"
_BOUNDARY_AFTER = f"(?:[^{_WORDCHAR_ASCII}]|$)"
#: Non-ASCII characters Python's case-insensitive matching equates with ASCII letters
#: (İ ı ſ and the Kelvin sign). Rows holding one always go to the exact check.
CASE_FOLD_SPECIALS = "".join(sorted(c for c in map(chr, range(0x80, 0x3000)) if re.fullmatch("(?i)[a-z]", c)))
SPECIALS_PATTERN = f"[{CASE_FOLD_SPECIALS}]"


def term_alternatives(term: str, field: str) -> list[list[str]]:
    """The word sequences a term can appear as: its words, and its ``#`` hashtag form."""
    words = term.split()
    if field == "hashtags":
        return [["".join(words)]]
    forms = [words]
    if len(words) > 1:
        forms.append(["#" + "".join(words)])
    return forms


def term_pattern(term: str, field: str) -> str:
    """Python regex source matching one keyword term on ``field`` (use with re.IGNORECASE)."""
    bodies = [r"\s+".join(map(re.escape, words)) for words in term_alternatives(term, field)]
    return r"(?<!\w)(?:%s)(?!\w)" % "|".join(bodies)


def keyword_regex(terms: tuple[str, ...], field: str) -> re.Pattern[str]:
    """One compiled pattern matching any of ``terms`` on ``field``."""
    return re.compile("|".join(term_pattern(t, field) for t in terms), re.IGNORECASE)


def prefilter(terms: tuple[str, ...], field: str) -> str | None:
    """An RE2 pattern (case-insensitive) matching at least every row any of ``terms`` matches.

    Word characters are approximated by ASCII ones and inner whitespace by any non-word run,
    which only widens the match. Returns None when a term has non-ASCII characters (those rows
    are all checked exactly).
    """
    if not all(t.isascii() for t in terms):
        return None
    bodies = []
    for term in terms:
        for words in term_alternatives(term, field):
            body = f"[^{_WORDCHAR_ASCII}]+".join(re.escape(w) for w in words)
            before = _BOUNDARY_BEFORE if re.match(r"\w", words[0]) else ""
            after = _BOUNDARY_AFTER if re.search(r"\w$", words[-1]) else ""
            bodies.append(before + body + after)
    return "|".join(bodies)
