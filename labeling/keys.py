"""Unknown keys in a task file are errors that name the file, the table and the key.

TOML accepts any key, so a typo (``postive``, ``label_modle``, ``annotations_per_itme``) would
otherwise be ignored and the default silently used instead of what the author wrote. Every
table of a task file is checked against the keys the code reads, through :func:`check_keys`,
and the message suggests the key that was probably meant.
"""
from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from datasets.errors import GoldloopError


def check_keys(where: str, table: Mapping[str, Any], allowed: Collection[str]) -> None:
    """Raise a ``GoldloopError`` naming ``where`` and the first unknown key of ``table``, if any.

    ``where`` is the file and table, e.g. ``"labeling/tasks/x.toml [tagger]"``. A sub-table
    that is unknown is called a table (``[model]``), anything else a key.
    """
    unknown = [key for key in table if key not in allowed]
    if not unknown:
        return
    key = unknown[0]
    what = f"table [{key}]" if isinstance(table[key], dict) else f"key {key!r}"
    guess = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    more = f" (and {len(unknown) - 1} more unknown: {unknown[1:]})" if len(unknown) > 1 else ""
    raise GoldloopError(f"{where}: unknown {what}{hint}{more}; allowed: {sorted(allowed)}")
