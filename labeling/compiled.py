"""Keyword and regex LFs compiled into column operations over a whole chunk of posts.

Each compiled LF takes the Arrow string array of its field (see :mod:`labeling.fields`) and
returns an ``int8`` vote vector (-1 = abstain). Keyword LFs first run one RE2 pass over the
column (:func:`labeling.matching.prefilter`) and confirm only the candidate rows with the exact
Python pattern; regex LFs run their Python patterns over the column, rows already decided
skipped. The row-wise twins in :mod:`labeling.reference` define the same votes one row at a time.
"""
from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from labeling.matching import SPECIALS_PATTERN, keyword_regex, prefilter
from labeling.task import LFSpec

ABSTAIN = -1


def _search_rows(values: pa.Array, rows: np.ndarray, patterns: list[re.Pattern[str]]) -> np.ndarray:
    """Boolean mask over ``rows``: does any of ``patterns`` match the row's value?"""
    texts = values.take(pa.array(rows, pa.int64())).to_pylist() if len(rows) < len(values) else values.to_pylist()
    hit = np.zeros(len(rows), dtype=bool)
    for pattern in patterns:
        todo = np.flatnonzero(~hit)
        if not len(todo):
            break
        search = pattern.search
        hit[todo] = [search(texts[i]) is not None for i in todo]
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
            self.patterns = [keyword_regex(spec.terms, spec.field)]
            self.vetoes = [keyword_regex(spec.unless, spec.field)] if spec.unless else []
            self.prefilter = prefilter(spec.terms, spec.field)
        else:
            self.patterns = [re.compile(p, spec.flags) for p in spec.patterns]
            self.vetoes = [re.compile(p, spec.flags) for p in spec.unless]
            self.prefilter = None

    def candidates(self, values: pa.Array) -> np.ndarray:
        """Indices of rows that may match (every row unless a prefilter applies)."""
        if self.prefilter is None:
            return np.arange(len(values))
        mask = pc.or_(pc.match_substring_regex(values, self.prefilter, ignore_case=True),
                      pc.match_substring_regex(values, SPECIALS_PATTERN))
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False))

    def __call__(self, values: pa.Array) -> np.ndarray:
        votes = np.full(len(values), ABSTAIN, dtype=np.int8)
        rows = self.candidates(values)
        rows = rows[_search_rows(values, rows, self.patterns)]
        if self.vetoes and len(rows):
            rows = rows[~_search_rows(values, rows, self.vetoes)]
        votes[rows] = self.spec.label
        return votes
