"""What a keyword matches: its exact Python semantics, and the same match compiled for RE2 (Arrow).

A keyword term matches case-insensitively when it is not glued to word characters on either
side; whitespace inside a term matches any run of whitespace. Terms are hashtag-aware: on any
field, ``#`` followed by the term without spaces also matches (``#MachineLearning`` counts for
"machine learning"), and on the ``hashtags`` field the term is compared without spaces.

The definition is the Python pattern of :func:`term_pattern` (``re.IGNORECASE``; ``\\w`` and
``\\s`` as Python defines them for ``str``). :func:`re2_pattern` is the same match written for
RE2, which Arrow runs over a whole column in one pass: word and space characters, and every
letter's case variants, are spelled out as explicit character classes computed from Python's
own definitions (so Python's extra case equivalences, such as ``i`` with dotless ``ı``, hold
too). The parity tests check the two against each other.
"""
from __future__ import annotations

import re
import re._parser as sre_parse
from functools import lru_cache


_MAX_CASED = 0x20000  # every code point with a case mapping lies below this


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


def _char(c: str) -> str:
    return c if c.isascii() and c.isalnum() else "\\x{%x}" % ord(c)


def _ranges(codes: list[int]) -> str:
    parts, start = [], None
    for i, code in enumerate(codes):
        if start is None:
            start = code
        if i + 1 == len(codes) or codes[i + 1] != code + 1:
            parts.append("\\x{%x}" % start if start == code else "\\x{%x}-\\x{%x}" % (start, code))
            start = None
    return "".join(parts)


@lru_cache(maxsize=1)
def _classes() -> tuple[str, str]:
    """RE2 class bodies of Python's ``\\w`` and ``\\s`` for str patterns."""
    codes = [i for i in range(0x110000) if not 0xD800 <= i < 0xE000]
    word = _ranges([i for i in codes if chr(i).isalnum() or i == 0x5F])
    space = _ranges([i for i in codes if chr(i).isspace()])
    return word, space


def re2_pattern(terms: tuple[str, ...], field: str) -> str:
    """RE2 pattern (case-sensitive) matching exactly what any of the terms' :func:`term_pattern` matches."""
    word, space = _classes()
    bodies = [f"[{space}]+".join("".join(map(_fold_class, w)) for w in words)
              for term in terms for words in term_alternatives(term, field)]
    return f"(?:^|[^{word}])(?:{'|'.join(bodies)})(?:[^{word}]|$)"


@lru_cache(maxsize=1)
def _cased() -> tuple[str, ...]:
    """Every character with a case mapping (the only ones case-insensitive matching can equate)."""
    return tuple(chr(i) for i in range(_MAX_CASED) if not 0xD800 <= i < 0xE000
                 and (chr(i).lower() != chr(i) or chr(i).upper() != chr(i) or chr(i).casefold() != chr(i)))


@lru_cache(maxsize=4096)
def _fold_class(c: str) -> str:
    """RE2 fragment matching exactly the characters Python's ``re.IGNORECASE`` equates with ``c``."""
    members = sorted({c} | {x for x in _cased() if re.fullmatch(re.escape(c), x, re.IGNORECASE)})
    return _char(c) if len(members) == 1 else "[" + "".join(map(_char, members)) + "]"


def _factors(items: object) -> list[list[str]]:
    """Sets of literals of a parsed pattern sequence: every match contains one literal of each set."""
    factors, current = [], ""
    for op, arg in items:
        if op is sre_parse.LITERAL:
            current += chr(arg)
            continue
        factors.append([current])
        current = ""
        if op is sre_parse.SUBPATTERN and not arg[1] and not arg[2]:  # a group without flag changes
            factors += _factors(arg[3])
        elif op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and arg[0] >= 1:
            factors += _factors(arg[2])
        elif op is sre_parse.BRANCH:
            factors.append([lit for alt in arg[1] for lit in max(_factors(alt), key=_selectivity)])
    return factors + [[current]]


def _selectivity(literals: list[str]) -> tuple[int, float]:
    """How much a literal set narrows the search: its shortest literal, then the mean length."""
    return min(map(len, literals)), sum(map(len, literals)) / len(literals)


def required_literal(pattern: str, flags: int) -> str | None:
    """RE2 pattern of literals one of which every match of a Python regex contains.

    Rows without one cannot match, so the exact Python regex only runs on rows with one. Case
    variants come from Python's own folding when the regex ignores case. None when the best
    such set has a literal shorter than two characters.
    """
    parsed = sre_parse.parse(pattern, flags)
    best = max(_factors(parsed), key=_selectivity)
    if min(map(len, best)) < 2:
        return None
    fold = _fold_class if parsed.state.flags & re.IGNORECASE else _char
    return "|".join("".join(map(fold, literal)) for literal in best)
