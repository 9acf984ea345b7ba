"""Generic Python LFs any task can reference. Each returns a label index or -1 (abstain).

They read the post row Snorkel passes (``x.text``, ``x.hashtags``, ``x.urls`` ...).
"""
from __future__ import annotations

from typing import Any

from snorkel.labeling import labeling_function

from labeling.label_matrix import ABSTAIN


@labeling_function()
def short_text_is_0(x: Any) -> int:
    """Label 0 for posts of fewer than five words (short remarks rarely carry spam or topic)."""
    return 0 if len(str(x.text or "").split()) < 5 else ABSTAIN
