"""A simulated run's end model on frozen and on fine-tuned encoder embeddings, scored on the test set.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/finetuned_model.py \\
        --task TASK_FILE --gold GOLD_FILE [--strategy entropy] [--labels 500] [--seeds 0,1,2] [--json]

``bench/encoder_finetune.py`` measures on pool labels what fine-tuning the sentence encoder adds
to a linear head. This puts a number on it for the model the acceptance simulation reports: it
replays ``models.simulate.simulate_run`` (the same picks, seeds and models as ``bin/simulate.sh``)
up to ``--labels``, then fits the model selection chose there in every seed of the airline run
(the ensemble of the ways on ``tfidf+encoder``, L2 0.001; fixed, because cross-validating over
golden labels the encoder was tuned on would be leaky) once on the cached frozen embeddings and
once on those of the encoder fine-tuned SetFit-style on the bought labels, and scores both on the
test set as the simulation does. ``--tune-labels N`` tunes the encoder on the first ``N`` bought
labels only while the head still gets all ``--labels``: what a run that re-tunes the encoder at
label milestones (and re-encodes the pool only then) would score between two milestones. Test
labels are only reported, never used to choose anything.
docs/benchmarks.md ("What a fine-tuned encoder would add").
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--strategy", default="entropy")
    p.add_argument("--labels", type=int, default=500)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--tune-labels", type=int, help="tune the encoder on the first N bought labels only "
                   "(default: all --labels), as a run that re-tunes at label milestones would")
    p.add_argument("--pairs-per-label", type=int, default=6)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    tune_labels = args.labels if args.tune_labels is None else args.tune_labels
    if args.pairs_per_label < 2 or args.labels < args.batch or not 0 < tune_labels <= args.labels:
        p.error("--pairs-per-label must be at least 2, --labels at least --batch, --tune-labels in 1..--labels")
    import numpy as np
    import pandas as pd
    import torch

    from bench.encoder_finetune import TunedEncoder
    from bench.selection_cv import acceptance_setting, bought_golden, fit_on, replay
    from models import encoder
    from models.finetune import contrastive_pairs
    from models.metrics import classification_metrics

    torch.set_num_threads(2)
    task, setting = acceptance_setting(args.task, args.gold)
    setting.tparams = dataclasses.replace(setting.tparams, fine_tune=False)  # the replay on the frozen encoder
    params = dataclasses.replace(setting.tparams, select=False, ensemble=True, architecture="tfidf+encoder", l2=0.001)
    texts, y = setting.pool["text"].tolist(), setting.pool["y"].to_numpy(int)

    def test_macro_f1(golden: pd.DataFrame) -> float:
        clf, _ = fit_on(task, setting, params, golden)
        return round(classification_metrics(setting.test_y, clf.predict(setting.test), task.labels)["macro_f1"], 4)

    frozen_embed, frozen_encode = encoder.embed, encoder.encode
    out: dict[str, dict] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        encoder.embed, encoder.encode = frozen_embed, frozen_encode
        torch.manual_seed(seed)
        bought, points = replay(setting, args.strategy, seed, args.labels, args.batch)
        _, golden = bought_golden(setting, bought[: args.labels])
        frozen = test_macro_f1(golden)
        tuned_on, _ = bought_golden(setting, bought[:tune_labels])
        tuner = TunedEncoder(params.encoder)  # a fresh copy of the verified weights per seed
        tune_s = tuner.tune(texts, contrastive_pairs(y, np.flatnonzero(tuned_on), args.pairs_per_label,
                                                     np.random.default_rng(seed)))
        memo: dict[str, np.ndarray] = {}

        def tuned_vectors(batch: list[str], memo=memo, tuner=tuner) -> np.ndarray:
            missing = list(dict.fromkeys(t for t in batch if t not in memo))
            memo.update(zip(missing, tuner.vectors(missing)))
            return np.array([memo[t] for t in batch], dtype="float32").reshape(len(batch), tuner.dimension)

        encoder.embed = lambda ids, batch, *a, **kw: tuned_vectors(list(batch))
        encoder.encode = lambda batch, *a, **kw: tuned_vectors(list(batch))
        started = time.perf_counter()
        tuned = test_macro_f1(golden)
        out[str(seed)] = {"simulation": round(points[-1]["macro_f1"], 4), "frozen": frozen, "fine_tuned": tuned,
                          "fine_tune_s": round(tune_s, 1), "last_model": points[-1]["model"],
                          "tuned_fit_and_encode_s": round(time.perf_counter() - started, 1)}
    means = {k: round(float(np.mean([row[k] for row in out.values()])), 4)
             for k in ("simulation", "frozen", "fine_tuned")}
    result = {"strategy": args.strategy, "labels": args.labels, "tune_labels": tune_labels, "seeds": out,
              "mean": means}
    if args.json:
        print(jsonout.dumps(result, sort_keys=True))
    else:
        for seed, row in out.items():
            print(f"seed {seed}: simulation {row['simulation']:.3f}, fixed ensemble frozen {row['frozen']:.3f}, "
                  f"fine-tuned {row['fine_tuned']:.3f} ({row['fine_tune_s']:.0f} s fine-tuning)")
        print(f"mean: {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
