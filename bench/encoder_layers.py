"""Which layers of the sentence encoder the end model should read, on pool labels only.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/encoder_layers.py \\
        --task TASK_FILE --gold GOLD_FILE [--labels 100,500] [--draws 5] [--json]

Run it on the workspace an acceptance script left behind (``bench/airline_simulation.sh`` or
``bench/youtube_simulation.sh`` with a WORK_DIR). Two parts, both on draws of ``--labels``
random pool posts (seeds 100, 101, ...) scored on the rest of the pool; the gold file is the
simulated annotator and no test label is read:

- ``probe``: one MiniLM forward pass over the pool keeps the mean-pooled states of every layer;
  logistic regression (balanced classes) reads the last layer (sentence-transformers' vector),
  layers 2, 4 and 6 side by side, their average (each normalised first), or the average of
  layers 3-6, alone and next to word TF-IDF;
- ``end model``: goldloop's own end model (``tfidf+encoder``, L2 0.001; the ensemble of the ways
  to use the LFs, and golden labels alone) with each encoder of ``models.encoder.ENCODERS``.

docs/benchmarks.md ("Which layers the encoder block reads").
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402

PROBE_C = 3.0
POOLINGS = {"last": ("avg", (6,)), "layers 2+4+6 side by side": ("cat", (2, 4, 6)),
            "layers 2,4,6 averaged": ("avg", (2, 4, 6)), "layers 3-6 averaged": ("avg", (3, 4, 5, 6))}


def layer_states(texts: list[str], batch: int = 64):
    """Mean-pooled, L2-normalised token states of every layer: ``(posts, layers + 1, width)``."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from models import encoder

    model = encoder.load("minilm")
    order = np.argsort([len(t) for t in texts])
    out = None
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch), desc="layer states", unit="batch"):
            rows = order[start:start + batch]
            features = model.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                       max_length=encoder.MAX_TOKENS, return_tensors="pt")
            states = model[0].auto_model(**features, output_hidden_states=True).hidden_states
            pooled = torch.stack([encoder.pool_layers(states, features["attention_mask"], (layer,))
                                  for layer in range(len(states))], dim=1)
            if out is None:
                out = np.zeros((len(texts), *pooled.shape[1:]), dtype=np.float32)
            out[rows] = pooled.numpy()
    return out


def pooled(states, how: str, layers: tuple[int, ...]):
    """One post vector from the chosen layers: side by side, or their normalised average."""
    import numpy as np

    if how == "cat":
        return np.hstack([states[:, layer] for layer in layers]) / np.sqrt(len(layers))
    total = states[:, list(layers)].sum(1)
    return total / np.linalg.norm(total, axis=1, keepdims=True)


def probe_scores(task, y, draws: dict[int, list], predict, scored=lambda rest: rest) -> dict[str, dict[str, float]]:
    """Mean accuracy and macro-F1 over the draws of ``predict(n, train, rest) -> classes`` (one
    class per row of ``scored(rest)``); a draw is a permutation of the pool whose first ``n`` rows
    are labeled and the rest unlabeled, all of them scored unless ``scored`` picks some."""
    import numpy as np

    from models.metrics import classification_metrics

    out = {}
    for n, perms in draws.items():
        rows = [classification_metrics(y[scored(perm[n:])], predict(n, perm[:n], perm[n:]), task.labels)
                for perm in perms]
        out[str(n)] = {m: round(float(np.mean([r[m] for r in rows])), 3) for m in ("accuracy", "macro_f1")}
    return out


def random_draws(labels: str, count: int, pool_size: int) -> dict[int, list]:
    """``count`` permutations of the pool (seeds 100, 101, ...) per number in ``labels``."""
    import numpy as np

    return {n: [np.random.default_rng(100 + d).permutation(pool_size) for d in range(count)]
            for n in (int(x) for x in labels.split(","))}


def logistic_probe(X, y):  # -> predict(n, train, rest)
    """The probe: logistic regression (balanced classes, ``PROBE_C``) fitted on ``X[train]``."""
    from sklearn.linear_model import LogisticRegression

    def predict(n, train, rest):
        clf = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced")
        return clf.fit(X[train], y[train]).predict(X[rest])

    return predict


def main() -> int:
    from bench.selection_cv import acceptance_setting, bought_golden, fit_on, pool_label_arguments

    args = pool_label_arguments(__doc__, labels="100,500", draws=5).parse_args()
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer

    from models import encoder
    from models.selection import Candidate

    task, setting = acceptance_setting(args.task, args.gold)
    y = setting.pool["y"].to_numpy(int)
    texts = list(setting.pool_posts.texts)
    states = layer_states(texts)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    draws = random_draws(args.labels, args.draws, len(y))

    report: dict[str, dict] = {"probe": {}, "end model": {}}
    for name, (how, layers) in POOLINGS.items():
        vectors = pooled(states, how, layers)
        for with_tfidf in (False, True):
            X = sp.hstack([tfidf, sp.csr_matrix(vectors)]).tocsr() if with_tfidf else vectors
            report["probe"][name + (" + tfidf" if with_tfidf else "")] = probe_scores(task, y, draws,
                                                                                       logistic_probe(X, y))
    for name in encoder.ENCODERS:
        for mode in ("ensemble", "golden_only"):
            def end_model(n, train, rest, name=name, mode=mode):
                _, golden = bought_golden(setting, list(train))
                params = dataclasses.replace(setting.tparams, encoder=name)
                fixed = dataclasses.replace(Candidate("tfidf+encoder", mode, None, 0.001).params(params), select=False)
                clf, _ = fit_on(task, setting, fixed, golden)
                return clf.predict(setting.pool_posts.take(rest))

            report["end model"][f"{name} / {mode}"] = probe_scores(task, y, draws, end_model)
    print_report(report, args.draws, as_json=args.json)
    return 0


def print_report(report: dict[str, dict], draws: int, *, as_json: bool) -> None:
    """``{part: {variant: probe_scores(...)}}`` as JSON or as one line per variant."""
    if as_json:
        print(jsonout.dumps(report, sort_keys=True))
        return
    for part, rows in report.items():
        print(f"== {part} (mean over {draws} draws: accuracy / macro-F1 on the rest of the pool)")
        for name, by_n in rows.items():
            print(f"  {name:<42} " + "  ".join(f"{n}: {s['accuracy']:.3f} / {s['macro_f1']:.3f}"
                                              for n, s in by_n.items()))


if __name__ == "__main__":
    sys.exit(main())
