"""The post fields labeling functions read, for one row (Snorkel) or a whole column (vectorized).

Every field is seen as one string. List fields (``hashtags``, ``url_domains``) join their
elements with a newline, so a term matches when it matches one element. ``url_domains`` are
the lower-cased host names of the post's expanded URLs without a leading ``www.``; missing
values read as the empty string. Both views below produce exactly the same strings.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

LIST_SEPARATOR = "\n"
#: Source column of each field.
SOURCE_COLUMN = {"text": "text", "hashtags": "hashtags", "url_domains": "urls",
                 "author": "author", "source_app": "source_app"}


@lru_cache(maxsize=65536)
def url_domain(url: str) -> str:
    """Lower-cased host name of ``url`` without ``www.`` ("" when it has none)."""
    try:
        host = urlsplit(url if "//" in url else "//" + url).hostname or ""
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _join(value: Any, field: str) -> str:
    elements = [] if _missing(value) else [str(v) for v in value if v is not None]
    if field == "url_domains":
        elements = [d for d in map(url_domain, elements) if d]
    return LIST_SEPARATOR.join(elements)


def row_value(row: Any, field: str) -> str:
    """The string an LF sees for ``field`` of one row (a pandas row / SimpleNamespace)."""
    value = getattr(row, SOURCE_COLUMN[field], None)
    if field in ("hashtags", "url_domains"):
        return _join(value, field)
    return "" if _missing(value) else str(value)


def column_values(frame: pd.DataFrame, field: str) -> pa.Array:
    """The strings LFs see for ``field`` over every row of ``frame``, as one Arrow string array."""
    column = SOURCE_COLUMN[field]
    if column not in frame.columns:
        return pa.array([""] * len(frame), pa.large_string())
    if field in ("hashtags", "url_domains"):
        return pa.array([_join(v, field) for v in frame[column]], pa.large_string())
    array = pa.array(frame[column], from_pandas=True)
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string()) if pa.types.is_null(array.type) else \
            pa.array([None if _missing(v) else str(v) for v in frame[column]], pa.large_string())
    return pc.fill_null(array.cast(pa.large_string()), "")
