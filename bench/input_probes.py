"""Three cheap changes to what the end model reads, checked on pool labels only.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/input_probes.py \\
        --task TASK_FILE --gold GOLD_FILE [--labels 100,500] [--draws 5] [--json]

Run it on the workspace an acceptance script left behind (``bench/airline_simulation.sh`` or
``bench/youtube_simulation.sh`` with a WORK_DIR). Each part uses ``bench/encoder_layers.py``'s
probe (logistic regression, balanced classes) on draws of ``--labels`` random pool posts, scored
on the rest of the pool; the gold file is the simulated annotator and no test label is read:

- ``handles``: the shipped encoder's vector (layers 2, 4, 6 averaged) of each text as written,
  and with every @handle read as ``@user`` (how TweetEval prepares tweets), alone and next to
  word TF-IDF of the text as written;
- ``characters``: word TF-IDF + the encoder, against character n-grams (2-5, within words) in
  place of or next to the word n-grams;
- ``self-training``: word TF-IDF + the encoder, refitted with the probe's most confident
  predictions on the first half of the unlabeled pool as extra labels (the ``--confident`` share
  of each predicted class, all together weighing ``--pseudo-weight`` times the golden labels);
  both fits are scored on the second half.

docs/benchmarks.md ("Checked and left out: handle masking, character n-grams, self-training").
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HANDLE = re.compile(r"(?<![\w@])@\w+")  # an @handle not inside a word (so not an e-mail address)


def confident_labels(proba, rows, share: float):
    """Rows of the ``share`` most confident predictions of each predicted class, and those classes."""
    import numpy as np

    predicted = proba.argmax(1)
    picked = [np.where(predicted == k)[0] for k in range(proba.shape[1])]
    picked = [idx[np.argsort(-proba[idx, k])][: int(share * len(idx))] for k, idx in enumerate(picked)]
    return rows[np.concatenate(picked)], np.concatenate([np.full(len(idx), k) for k, idx in enumerate(picked)])


def main() -> int:
    from bench.selection_cv import acceptance_setting, pool_label_arguments

    p = pool_label_arguments(__doc__, labels="100,500", draws=5)
    p.add_argument("--confident", type=float, default=0.3, help="share of each predicted class pseudo-labeled")
    p.add_argument("--pseudo-weight", type=float, default=0.3, help="pseudo-labels' total weight / golden labels'")
    args = p.parse_args()
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from bench.encoder_layers import (PROBE_C, layer_states, logistic_probe, pooled, print_report, probe_scores,
                                      random_draws)
    from models import encoder

    task, setting = acceptance_setting(args.task, args.gold)
    y = setting.pool["y"].to_numpy(int)
    texts = list(setting.pool_posts.texts)
    draws = random_draws(args.labels, args.draws, len(y))
    words = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                            max_features=50_000).fit_transform(texts)
    layers = encoder.ENCODERS[encoder.DEFAULT_ENCODER].layers
    report: dict[str, dict] = {"handles": {}, "characters": {}, "self-training": {}}

    for name, version in (("as written", texts), ("@handles as @user", [HANDLE.sub("@user", t) for t in texts])):
        vectors = pooled(layer_states(version), "avg", layers)
        report["handles"][name] = probe_scores(task, y, draws, logistic_probe(vectors, y))
        both = sp.hstack([words, sp.csr_matrix(vectors)]).tocsr()
        report["handles"][name + " + tfidf"] = probe_scores(task, y, draws, logistic_probe(both, y))

    vectors = sp.csr_matrix(encoder.embed(list(setting.pool_posts.ids), texts))
    inputs = {"words + encoder": sp.hstack([words, vectors]),
              "characters + encoder": sp.hstack([chars, vectors]),
              "words + characters + encoder": sp.hstack([words / np.sqrt(2), chars / np.sqrt(2), vectors])}
    for name, X in inputs.items():
        report["characters"][name] = probe_scores(task, y, draws, logistic_probe(X.tocsr(), y))

    X = inputs["words + encoder"].tocsr()
    probe = logistic_probe(X, y)

    def second_half(rest):
        return rest[len(rest) // 2:]

    def golden_only(n, train, rest):
        return probe(n, train, second_half(rest))

    def self_trained(n, train, rest):
        first = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced").fit(X[train], y[train])
        unlabeled = rest[: len(rest) // 2]
        rows, classes = confident_labels(first.predict_proba(X[unlabeled]), unlabeled, args.confident)
        weight = np.concatenate([np.ones(len(train)), np.full(len(rows), args.pseudo_weight * n / max(len(rows), 1))])
        clf = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced")
        return clf.fit(X[np.concatenate([train, rows])], np.concatenate([y[train], classes]),
                       sample_weight=weight).predict(X[second_half(rest)])

    for name, predict in (("golden labels", golden_only), ("golden + confident predictions", self_trained)):
        report["self-training"][name] = probe_scores(task, y, draws, predict, second_half)
    print_report(report, args.draws, as_json=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
