"""The task's labeling functions as plain Snorkel ``LabelingFunction`` objects, one row at a time.

These define the votes row by row, in the most direct way (each term and pattern searched on
its own), and are what Snorkel's ``PandasLFApplier`` runs. The vectorized applier must give the
same matrix; the parity tests and ``bench/lf_apply.py`` compare the two.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from snorkel.labeling import LabelingFunction

from labeling.fields import row_value
from labeling.label_matrix import ABSTAIN
from labeling.matching import term_pattern
from labeling.task import LFSpec


def _any_match(patterns: list[re.Pattern[str]]) -> Callable[[str], bool]:
    return lambda value: any(p.search(value) for p in patterns)


def row_lf(spec: LFSpec, predict_one: Callable[[str], int] | None = None) -> LabelingFunction:
    """A Snorkel LF voting like ``spec`` (keyword or regex; cluster given its fitted ``predict_one``)."""
    field = spec.field
    if spec.kind == "cluster":
        if predict_one is None:
            raise ValueError(f"LF {spec.name!r}: a cluster LF needs its fitted model")
        return LabelingFunction(spec.name, f=lambda x: predict_one(row_value(x, field)))
    if spec.kind == "keyword":
        hits = _any_match([re.compile(term_pattern(t, field), re.IGNORECASE) for t in spec.terms])
        vetoes = _any_match([re.compile(term_pattern(t, field), re.IGNORECASE) for t in spec.unless])
    elif spec.kind == "regex":
        hits = _any_match([re.compile(p, spec.flags) for p in spec.patterns])
        vetoes = _any_match([re.compile(p, spec.flags) for p in spec.unless])
    else:
        raise ValueError(f"LF {spec.name!r}: python LFs are already Snorkel LFs")
    label = spec.label

    def vote(x: Any) -> int:
        value = row_value(x, field)
        return label if hits(value) and not vetoes(value) else ABSTAIN

    return LabelingFunction(spec.name, f=vote)
