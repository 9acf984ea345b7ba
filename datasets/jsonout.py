"""JSON text any parser accepts: non-finite floats become ``null``.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which is not JSON (RFC 8259):
``jq``, JavaScript's ``JSON.parse`` and PostgreSQL's ``jsonb`` refuse it. Such values are
ordinary here (a metric is NaN when it is undefined, for instance with no golden labels, and
pandas turns a missing number into NaN), so every command's ``--json`` output and every
``raw`` record goes through :func:`dumps`, which maps them to ``null`` and then serialises with
``allow_nan=False`` so that nothing non-finite can slip through.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def finite(obj: Any) -> Any:
    """``obj`` with every NaN / infinity (also inside dicts, lists, tuples, NumPy scalars) replaced by None."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def _default(obj: Any) -> Any:
    """What ``json`` cannot serialise itself: NumPy scalars and arrays by value, anything else as text."""
    if isinstance(obj, (np.generic, np.ndarray)):
        return finite(obj.tolist())
    return str(obj)


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` with non-finite floats as ``null`` (``allow_nan=False``; other options as given).

    The common case, nothing non-finite, is serialised directly; only a refusal walks the
    object to replace the offending values, so large records cost no extra pass.
    """
    try:
        return json.dumps(obj, allow_nan=False, default=_default, **kwargs)
    except ValueError:
        return json.dumps(finite(obj), allow_nan=False, default=_default, **kwargs)
