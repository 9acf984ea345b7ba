"""Keyword and regex LFs compiled into column operations over a whole chunk of posts.

Each compiled LF takes the Arrow string array of its field (see :mod:`labeling.fields`) and
returns an ``int8`` vote vector (-1 = abstain). Keyword LFs run one RE2 pass per term list over
the column (:func:`labeling.matching.re2_pattern`, exactly the Python definition). Regex LFs
run their Python patterns over the rows holding a literal they require (one RE2 pass), rows
already decided skipped. The row-wise twins in :mod:`labeling.reference` define the same votes
one row at a time.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labeling.label_matrix import ABSTAIN
from labeling.matching import re2_pattern, required_literal
from labeling.task import LFSpec


def _search(texts: list[str], patterns: list[re.Pattern[str]]) -> np.ndarray:
    """Boolean mask over ``texts``: does any of ``patterns`` match?"""
    hit = np.zeros(len(texts), dtype=bool)
    for pattern in patterns:
        todo = np.flatnonzero(~hit)
        if not len(todo):
            break
        search = pattern.search
        hit[todo] = [search(texts[i]) is not None for i in todo]
    return hit


class KeywordMatcher:
    """Which values match any of a list of keyword terms (see :mod:`labeling.matching`)."""

    def __init__(self, terms: tuple[str, ...], field: str) -> None:
        self.re2 = re2_pattern(terms, field)

    def mask(self, values: pa.Array) -> np.ndarray:
        return pc.match_substring_regex(values, self.re2).to_numpy(zero_copy_only=False)


class RegexMatcher:
    """Which values match any of a list of Python regular expressions.

    When every pattern requires some literal, one RE2 pass finds the rows holding one, and the
    Python patterns only run there.
    """

    def __init__(self, patterns: tuple[str, ...], flags: int) -> None:
        self.patterns = [re.compile(p, flags) for p in patterns]
        literals = [required_literal(p, flags) for p in patterns]
        self.prefilter = None if None in literals else "|".join(literals)

    def mask(self, values: pa.Array) -> np.ndarray:
        if self.prefilter is None:
            return _search(values.to_pylist(), self.patterns)
        hit = pc.match_substring_regex(values, self.prefilter).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(hit)
        hit[rows] = _search(values.take(pa.array(rows, pa.int64())).to_pylist(), self.patterns)
        return hit


class CompiledLF:
    """A keyword or regex LF as a column operation: ``votes = lf(values)``."""

    def __init__(self, spec: LFSpec) -> None:
        if spec.kind not in ("keyword", "regex") or spec.label is None:
            raise ValueError(f"LF {spec.name!r}: only keyword and regex LFs compile to column operations")
        self.spec = spec
        self.name = spec.name
        self.field = spec.field
        if spec.kind == "keyword":
            self.hits = KeywordMatcher(spec.terms, spec.field)
            self.vetoes = KeywordMatcher(spec.unless, spec.field) if spec.unless else None
        else:
            self.hits = RegexMatcher(spec.patterns, spec.flags)
            self.vetoes = RegexMatcher(spec.unless, spec.flags) if spec.unless else None

    def __call__(self, values: pa.Array) -> np.ndarray:
        votes = np.full(len(values), ABSTAIN, dtype=np.int8)
        rows = np.flatnonzero(self.hits.mask(values))
        if self.vetoes is not None and len(rows):
            rows = rows[~self.vetoes.mask(values.take(pa.array(rows, pa.int64())))]
        votes[rows] = self.spec.label
        return votes
