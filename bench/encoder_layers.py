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

import argparse
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--labels", default="100,500", help="comma-separated numbers of random pool labels")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import numpy as np
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from bench.selection_cv import acceptance_setting, bought_golden, fit_on
    from models import encoder
    from models.metrics import classification_metrics
    from models.selection import Candidate

    task, setting = acceptance_setting(args.task, args.gold)
    y = setting.pool["y"].to_numpy(int)
    texts = list(setting.pool_posts.texts)
    states = layer_states(texts)
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    draws = {n: [np.random.default_rng(100 + d).permutation(len(y)) for d in range(args.draws)]
             for n in (int(x) for x in args.labels.split(","))}

    def scores(predict) -> dict[str, float]:
        """Mean accuracy and macro-F1 over the draws of ``predict(n, train, rest) -> classes``."""
        out = {}
        for n, perms in draws.items():
            rows = [classification_metrics(y[perm[n:]], predict(n, perm[:n], perm[n:]), task.labels) for perm in perms]
            out[str(n)] = {m: round(float(np.mean([r[m] for r in rows])), 3) for m in ("accuracy", "macro_f1")}
        return out

    report: dict[str, dict] = {"probe": {}, "end model": {}}
    for name, (how, layers) in POOLINGS.items():
        vectors = pooled(states, how, layers)
        for with_tfidf in (False, True):
            X = sp.hstack([tfidf, sp.csr_matrix(vectors)]).tocsr() if with_tfidf else vectors

            def probe(n, train, rest, X=X):
                clf = LogisticRegression(C=PROBE_C, max_iter=3000, class_weight="balanced").fit(X[train], y[train])
                return clf.predict(X[rest])

            report["probe"][name + (" + tfidf" if with_tfidf else "")] = scores(probe)
    for name in encoder.ENCODERS:
        for mode in ("ensemble", "golden_only"):
            def end_model(n, train, rest, name=name, mode=mode):
                _, golden = bought_golden(setting, list(train))
                params = dataclasses.replace(setting.tparams, encoder=name)
                fixed = dataclasses.replace(Candidate("tfidf+encoder", mode, None, 0.001).params(params), select=False)
                clf, _ = fit_on(task, setting, fixed, golden)
                return clf.predict(setting.pool_posts.take(rest))

            report["end model"][f"{name} / {mode}"] = scores(end_model)
    if args.json:
        print(jsonout.dumps(report, sort_keys=True))
    else:
        for part, rows in report.items():
            print(f"== {part} (mean over {args.draws} draws: accuracy / macro-F1 on the rest of the pool)")
            for name, by_n in rows.items():
                print(f"  {name:<42} " + "  ".join(f"{n}: {s['accuracy']:.3f} / {s['macro_f1']:.3f}"
                                                  for n, s in by_n.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
