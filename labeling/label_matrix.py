"""The label matrix ``L`` (one row per post, one column per LF): what an abstain is, and majority
vote over it.

Every LF kind, the applier, the combiners and the models' metrics and strategies agree on
``ABSTAIN`` and on one majority vote, so a vote means the same wherever it is read.
"""
from __future__ import annotations

import numpy as np
from snorkel.labeling.model import MajorityLabelVoter
from snorkel.utils import probs_to_preds

#: The vote of an LF that has no opinion on a post (Snorkel's convention; labels count from 0).
ABSTAIN = -1


def majority_probs(L: np.ndarray, cardinality: int) -> np.ndarray:
    """Majority-vote class probabilities (uniform over tied labels; uniform when uncovered):
    Snorkel's ``MajorityLabelVoter``, so the weak targets match what its tutorials report."""
    return MajorityLabelVoter(cardinality=cardinality, verbose=False).predict_proba(L.astype(np.int64))


def majority_vote(L: np.ndarray, cardinality: int) -> np.ndarray:
    """The majority label of each row, ``ABSTAIN`` on ties and rows no LF voted on (Snorkel's
    ``tie_break_policy="abstain"``): a hard prediction that never guesses, for scoring majority
    vote as a model and for picking posts by their LFs' verdict."""
    if L.shape[1] == 0:
        return np.full(len(L), ABSTAIN)
    return probs_to_preds(majority_probs(L, cardinality), tie_break_policy="abstain")
