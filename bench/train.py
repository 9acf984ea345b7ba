"""Benchmark: the default end model (n-gram TF-IDF) against the original Embedding + BiLSTM.

    .venv/bin/python bench/train.py --data ../shared/data/youtube-spam [--epochs 10] [--seeds 1] [--json]

Both architectures train on the same data in one run: YouTube spam videos 01-04 with their gold
labels, scored on video 05 (the usual protocol). Reports median seconds per epoch (first epoch,
which traces the graph, excluded), accuracy and macro-F1, and ``speedup`` = BiLSTM seconds per
epoch / default seconds per epoch. Target: speedup >= 3 at equal or better macro-F1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models.classifier import TextClassifier  # noqa: E402
from models.metrics import classification_metrics  # noqa: E402
from models.params import TrainParams  # noqa: E402

LABELS = ["ham", "spam"]


def load(data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Videos 01-04 (train) and 05 (test) of the YouTube spam collection."""
    files = sorted(data.glob("Youtube0[1-5]-*.csv"))
    if len(files) != 5:
        raise SystemExit(f"expected Youtube01-05 CSV files in {data}")
    return pd.concat([pd.read_csv(f) for f in files[:4]], ignore_index=True), pd.read_csv(files[4])


def measure(params: TrainParams, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    clf = TextClassifier(LABELS, params).fit(train["CONTENT"].tolist(), train["CLASS"].to_numpy())
    m = classification_metrics(test["CLASS"].to_numpy(), clf.predict(test["CONTENT"].tolist()), LABELS)
    steady = clf.epoch_seconds[1:] or clf.epoch_seconds
    return {"seconds_per_epoch": float(np.median(steady)), "first_epoch_seconds": clf.epoch_seconds[0],
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="directory of Youtube0[1-5]-*.csv")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=1, help="average over this many seeds")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    train, test = load(args.data)
    configs = {"tfidf": TrainParams(epochs=args.epochs),
               "bilstm": TrainParams(architecture="bilstm", epochs=args.epochs, learning_rate=0.005)}
    results = {}
    for name, params in configs.items():
        runs = [measure(TrainParams(**{**params.__dict__, "seed": s}), train, test) for s in range(args.seeds)]
        results[name] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        if not args.json:
            print(f"{name:>7}: {results[name]['seconds_per_epoch']:.3f} s/epoch, accuracy "
                  f"{results[name]['accuracy']:.4f}, macro-F1 {results[name]['macro_f1']:.4f}", flush=True)
    out = {"train_rows": len(train), "test_rows": len(test), "epochs": args.epochs, "seeds": args.seeds,
           "default": results["tfidf"], "bilstm": results["bilstm"],
           "speedup": results["bilstm"]["seconds_per_epoch"] / results["tfidf"]["seconds_per_epoch"],
           "macro_f1_delta": results["tfidf"]["macro_f1"] - results["bilstm"]["macro_f1"]}
    print(json.dumps(out, sort_keys=True) if args.json else
          f"speedup {out['speedup']:.1f}x, macro-F1 default - BiLSTM = {out['macro_f1_delta']:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
