"""Benchmark: the default end model (n-gram TF-IDF) against the original Embedding + BiLSTM.

    .venv/bin/python bench/train.py --data ../shared/data/youtube-spam [--epochs 10] [--seeds 1] [--json]
    .venv/bin/python bench/train.py --data ../shared/data/youtube-spam --cv [--set l2=0] [--json]

Both architectures train on the same data in one run: YouTube spam videos 01-04 with their gold
labels, scored on video 05 (the usual protocol). Reports median seconds per epoch (first epoch,
which traces the graph, excluded), accuracy and macro-F1, and ``speedup`` = BiLSTM seconds per
epoch / default seconds per epoch; ``fit_speedup`` compares whole fits (vocabulary,
vectorizing, every epoch). Target: speedup >= 3 at equal or better macro-F1.

``--cv`` is how settings are chosen without looking at video 05: leave-one-video-out over
videos 01-04 (train on three, score the fourth), mean macro-F1 per architecture. ``--set
KEY=VALUE`` (repeatable) overrides a ``TrainParams`` field of the default model in both modes.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from datasets import jsonout  # noqa: E402
from models.classifier import TextClassifier  # noqa: E402
from models.metrics import classification_metrics  # noqa: E402
from models.params import TrainParams  # noqa: E402

LABELS = ["ham", "spam"]


def videos(data: Path) -> list[pd.DataFrame]:
    """The five videos of the YouTube spam collection, 01 to 05."""
    files = sorted(data.glob("Youtube0[1-5]-*.csv"))
    if len(files) != 5:
        raise SystemExit(f"expected Youtube01-05 CSV files in {data}")
    return [pd.read_csv(f) for f in files]


def override(params: TrainParams, settings: list[str]) -> TrainParams:
    """``params`` with ``KEY=VALUE`` settings applied (values parsed as JSON, else kept as text)."""
    changes = {}
    for setting in settings:
        key, _, value = setting.partition("=")
        if key not in params.__dataclass_fields__:
            raise SystemExit(f"--set {setting}: TrainParams has no field {key!r}")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    return TrainParams(**{**params.__dict__, **changes})


def cross_validate(params: TrainParams, pool: list[pd.DataFrame]) -> dict[str, float]:
    """Leave-one-video-out macro-F1 over ``pool`` (videos 01-04): per fold and the mean."""
    folds = []
    for i, held_out in enumerate(pool):
        train = pd.concat([v for j, v in enumerate(pool) if j != i], ignore_index=True)
        folds.append(measure(params, train, held_out)["macro_f1"])
    return {"macro_f1": float(np.mean(folds)), **{f"fold_{i + 1:02d}": f for i, f in enumerate(folds)}}


def measure(params: TrainParams, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Fit one model; its seconds per epoch, whole-fit seconds and test-video scores."""
    started = time.perf_counter()
    clf = TextClassifier(LABELS, params).fit(train["CONTENT"].tolist(), train["CLASS"].to_numpy())
    fit_seconds = time.perf_counter() - started
    m = classification_metrics(test["CLASS"].to_numpy(), clf.predict(test["CONTENT"].tolist()), LABELS)
    steady = clf.epoch_seconds[1:] or clf.epoch_seconds
    return {"seconds_per_epoch": float(np.median(steady)), "first_epoch_seconds": clf.epoch_seconds[0],
            "fit_seconds": fit_seconds,
            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="directory of Youtube0[1-5]-*.csv")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=1, help="average over this many seeds")
    p.add_argument("--cv", action="store_true", help="leave-one-video-out CV on videos 01-04 instead")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a TrainParams field of the default model")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    data = videos(args.data)
    configs = {"tfidf": override(TrainParams(epochs=args.epochs), args.set),
               "bilstm": TrainParams(architecture="bilstm", epochs=args.epochs, learning_rate=0.005)}
    if args.cv:
        cv = {name: cross_validate(params, data[:4]) for name, params in configs.items()}
        print(jsonout.dumps({"cv": cv, "set": args.set}, sort_keys=True) if args.json else
              "\n".join(f"{name:>7}: leave-one-video-out macro-F1 {r['macro_f1']:.4f}" for name, r in cv.items()))
        return 0
    train, test = pd.concat(data[:4], ignore_index=True), data[4]
    results = {}
    for name, params in configs.items():
        runs = [measure(TrainParams(**{**params.__dict__, "seed": s}), train, test) for s in range(args.seeds)]
        results[name] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
        if not args.json:
            print(f"{name:>7}: {results[name]['seconds_per_epoch']:.3f} s/epoch, accuracy "
                  f"{results[name]['accuracy']:.4f}, macro-F1 {results[name]['macro_f1']:.4f}", flush=True)
    out = {"train_rows": len(train), "test_rows": len(test), "epochs": args.epochs, "seeds": args.seeds, "set": args.set,
           "default": results["tfidf"], "bilstm": results["bilstm"],
           "speedup": results["bilstm"]["seconds_per_epoch"] / results["tfidf"]["seconds_per_epoch"],
           "fit_speedup": results["bilstm"]["fit_seconds"] / results["tfidf"]["fit_seconds"],
           "macro_f1_delta": results["tfidf"]["macro_f1"] - results["bilstm"]["macro_f1"]}
    print(jsonout.dumps(out, sort_keys=True) if args.json else
          f"speedup {out['speedup']:.1f}x, macro-F1 default - BiLSTM = {out['macro_f1_delta']:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
