"""How much a fine-tuned sentence encoder would add to a linear head, on pool labels only.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/encoder_finetune.py \\
        --task TASK_FILE --gold GOLD_FILE [--labels 500] [--tune-on golden|weak] [--pairs-per-label 6] [--json]

The end models of goldloop are linear heads on frozen features (TF-IDF, all-MiniLM-L6-v2
embeddings from the workspace cache). This measures what they leave on the table: it splits the
answerable pool in two halves, buys ``--labels`` random labels from the first (the gold file is
the simulated annotator), fine-tunes a copy of the encoder on them the SetFit way (Tunstall et
al. 2022: pairs of same-class and different-class posts, cosine similarity regressed on 1 / 0),
and fits logistic regression on frozen and on fine-tuned embeddings, each alone and next to
TF-IDF. With ``--tune-on weak`` the encoder is fine-tuned once on weak labels instead (the label
model's most likely class of ``--weak-rows`` posts some LF voted on, as many per class as there
are, up to a third each) and sees no golden label: what an encoder adapted once per label run,
before any labeling, would give. It reports macro-F1 on ``--eval`` posts of the second half and the time of each step on
this machine. No test label is read. docs/benchmarks.md ("What a fine-tuned encoder would add").
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402


def weak_rows(setting, n_rows: int, rng):
    """Up to ``n_rows`` / 3 covered pool rows per weak class, and every pool row's weak class."""
    import numpy as np

    from models import data

    weak = setting.weak.set_index("id").reindex(setting.pool["id"])
    classes = weak[data.prob_columns(setting.task)].to_numpy().argmax(1)
    covered = np.flatnonzero(weak["covered"].fillna(False).to_numpy(bool))
    per_class = [covered[classes[covered] == c] for c in range(len(setting.task.labels))]
    picked = [rng.choice(rows, min(len(rows), n_rows // len(per_class)), replace=False) for rows in per_class]
    return np.concatenate(picked), classes


class TunedEncoder:
    """A process-local copy of the verified encoder (``models.encoder.load``), fine-tuned the
    SetFit way; nothing is written back to the package or the embedding cache."""

    def __init__(self, name: str) -> None:
        from models import encoder

        model = encoder.load(name)
        self.tokenizer, self.transformer = model.tokenizer, copy.deepcopy(model[0].auto_model)
        self.dimension, self.layers = encoder.dimension(name), encoder.spec_of(name).layers
        self.pairs = 0

    def _embed(self, batch: list[str]):
        """Post vectors pooled as encoder ``name`` pools them (a torch tensor)."""
        from models.finetune import pooled_vectors

        return pooled_vectors(self.transformer, self.tokenizer, self.layers, batch)

    def tune(self, texts: list[str], pairs: list[tuple[int, int, float]]) -> float:
        """One pass of ``models.finetune.tune_transformer`` over ``pairs``; the seconds it took."""
        from models.finetune import tune_transformer

        seconds = tune_transformer(self.transformer, self.tokenizer, self.layers, texts, pairs, progress=True)
        self.pairs += len(pairs)
        return seconds

    def vectors(self, texts: list[str]):
        """Embeddings of ``texts`` (a float32 array), 64 at a time."""
        import numpy as np
        import torch

        with torch.no_grad():
            parts = [self._embed(texts[i:i + 64]).numpy() for i in range(0, len(texts), 64)]
        return np.vstack(parts).astype("float32") if parts else np.zeros((0, self.dimension), "float32")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--labels", type=int, default=500, help="random pool labels to learn from (default 500)")
    p.add_argument("--tune-on", choices=["golden", "weak"], default="golden")
    p.add_argument("--weak-rows", type=int, default=3000, help="weak-labeled posts to tune on (default 3000)")
    p.add_argument("--pairs-per-label", type=int, default=6, help="contrastive pairs per label (default 6)")
    p.add_argument("--eval", type=int, default=3000, help="posts of the other pool half to score on (default 3000)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.pairs_per_label < 2 or args.labels < 2:
        p.error("--pairs-per-label and --labels must be at least 2 (one same-class and one other-class pair)")
    import numpy as np
    import scipy.sparse as sp
    import torch
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    from bench.selection_cv import acceptance_setting
    from models import encoder
    from models.finetune import contrastive_pairs

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    task, setting = acceptance_setting(args.task, args.gold)
    texts, y = setting.pool["text"].tolist(), setting.pool["y"].to_numpy(int)
    frozen = encoder.embed(setting.pool["id"].astype(str).tolist(), texts, setting.tparams.encoder)
    rng = np.random.default_rng(args.seed)
    halves = np.array_split(rng.permutation(len(y)), 2)
    labeled, scored = rng.permutation(halves[0])[: args.labels], halves[1][: args.eval]

    tuner = TunedEncoder(setting.tparams.encoder)
    if args.tune_on == "weak":
        tune_rows, tune_y = weak_rows(setting, args.weak_rows, rng)
    else:
        tune_rows, tune_y = labeled, y
    tune_s = tuner.tune(texts, contrastive_pairs(tune_y, tune_rows, args.pairs_per_label, rng))
    rows = np.concatenate([labeled, scored])
    started = time.perf_counter()
    tuned = tuner.vectors([texts[i] for i in rows])
    encode_s = time.perf_counter() - started
    tfidf = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit(texts).transform(texts)[rows]
    features = {"encoder (frozen)": frozen[rows], "encoder (fine-tuned)": tuned,
                "tfidf+encoder (frozen)": sp.hstack([tfidf, sp.csr_matrix(frozen[rows])]).tocsr(),
                "tfidf+encoder (fine-tuned)": sp.hstack([tfidf, sp.csr_matrix(tuned)]).tocsr()}
    n = len(labeled)
    scores = {}
    for name, X in features.items():
        head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(X[:n], y[labeled])
        scores[name] = round(float(f1_score(y[scored], head.predict(X[n:]), average="macro")), 3)
    out = {"labels": n, "tuned_on": args.tune_on, "pairs": tuner.pairs, "eval_posts": len(scored),
           "threads": args.threads, "fine_tune_s": round(tune_s, 1),
           "encode_posts_per_s": round(len(rows) / encode_s, 1), "macro_f1": scores, "classes": task.labels}
    if args.json:
        print(jsonout.dumps(out, sort_keys=True))
    else:
        print(f"{n} labels, {tuner.pairs} pairs of {args.tune_on} labels: fine-tuning {tune_s:.0f} s on "
              f"{args.threads} threads, encoding {out['encode_posts_per_s']} posts/s")
        for name, value in scores.items():
            print(f"  {name:<28} macro-F1 {value:.3f} on {len(scored)} other pool posts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
