"""Python LFs of the ``youtube_spam`` task (labels: 0 = ham, 1 = spam)."""
from __future__ import annotations

from typing import Any

from snorkel.labeling import labeling_function

from labeling.label_matrix import ABSTAIN

HAM, SPAM = 0, 1


@labeling_function()
def short_comment(x: Any) -> int:
    """Ham: comments of fewer than five words without a link are usually reactions to the song."""
    text = str(x.text or "")
    return HAM if len(text.split()) < 5 and "http" not in text.lower() else ABSTAIN
