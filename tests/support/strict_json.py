"""JSON parsing as strict as jq or JavaScript's ``JSON.parse``."""
from __future__ import annotations

import json


def strict_loads(text: str):
    """``json.loads`` that refuses ``NaN``/``Infinity`` like jq or JavaScript's ``JSON.parse`` do."""
    def refuse(token: str):
        raise ValueError(f"non-JSON token {token}")
    return json.loads(text, parse_constant=refuse)
