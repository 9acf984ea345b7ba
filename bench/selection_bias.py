"""What a strategy's picks are, and how model selection's CV judges the candidates on them.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/selection_bias.py \\
        --task TASK_FILE --gold GOLD_FILE [--labels 150[,300,...]] [--seed 0] [--strategies entropy,random] [--json]

Run it on the workspace an acceptance script left behind (``bench/airline_simulation.sh`` with a
WORK_DIR). For each strategy it replays the simulation (``models.simulate.simulate_run``, the same
rounds, seed and selection) up to the largest of ``--labels`` and records the posts bought, in
order. At each of ``--labels`` it reports the bought posts' class counts and, for each stage-2
way of using the LFs (``tfidf+encoder``, L2 0.001; the ensemble of the single ways too), the CV
macro-F1 selection computes over the bought labels next to the macro-F1 on the rest of the pool
and the classes the model predicts there. Only pool labels are read (the gold file is the
simulated annotator); the test scores the replay computes are not used. docs/benchmarks.md
("What the uncertainty picks are").
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402

WAYS = [("weak", 10.0), ("weak", 100.0), ("weak", 1.0), ("lf_features", None), ("golden_only", None),
        ("ensemble", None)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--labels", default="150", help="comma-separated numbers of labels bought (default 150)")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategies", default="entropy,random")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import numpy as np

    from bench.selection_cv import acceptance_setting, bought_golden, fit_on, replay
    from models.metrics import classification_metrics
    from models.selection import Candidate

    task, setting = acceptance_setting(args.task, args.gold)
    pool_y = setting.pool["y"].to_numpy(int)

    def per_label(classes: np.ndarray) -> dict[str, int]:
        return dict(zip(task.labels, np.bincount(classes, minlength=len(task.labels)).tolist()))

    def compare(bought: list[int], chosen: str | None) -> dict:
        """The bought labels' classes, and each way's CV score on them and macro-F1 on the rest of the pool."""
        labeled, golden = bought_golden(setting, bought)
        params = dataclasses.replace(setting.tparams, seed=args.seed, architecture="tfidf+encoder", l2=0.001,
                                     select_architectures=["tfidf+encoder"], select_l2=[0.001], select_min_golden=1)
        _, selection = fit_on(task, setting, params, golden)
        cv = {row["candidate"]: (row["cv_macro_f1"], row["cv_se"]) for row in selection.scores if row["stage"] == 2}
        rest = np.flatnonzero(~labeled)
        rest_posts = setting.pool_posts.take(rest)
        ways = {}
        for mode, weight in WAYS:
            candidate = Candidate("tfidf+encoder", mode, weight, 0.001)
            fixed = dataclasses.replace(candidate.params(params), select=False)
            clf, _ = fit_on(task, setting, fixed, golden)
            predicted = clf.predict(rest_posts)
            rest_f1 = classification_metrics(pool_y[rest], predicted, task.labels)["macro_f1"]
            cv_score, cv_se = cv.get(candidate.name, (None, None))
            ways[candidate.name] = {"cv_macro_f1": cv_score, "cv_se": cv_se, "rest_of_pool_macro_f1": round(rest_f1, 3),
                                    "predicted": per_label(predicted)}
        return {"labels": int(labeled.sum()), "chosen": chosen, "bought": per_label(pool_y[labeled]),
                "pool": per_label(pool_y), "ways": ways}

    checkpoints = sorted(int(n) for n in args.labels.split(","))
    out: dict[str, dict] = {}
    for strategy in args.strategies.split(","):
        bought, points = replay(setting, strategy, args.seed, checkpoints[-1], args.batch)
        chosen = {point["labels"]: point["model"] for point in points}
        for n in checkpoints:
            out[f"{strategy} {n}"] = compare(bought[:n], chosen.get(n))
    if args.json:
        print(jsonout.dumps(out, sort_keys=True))
    else:
        for point, row in out.items():
            print(f"{point}: {row['labels']} labels bought {row['bought']} (pool {row['pool']}); "
                  f"chosen {row['chosen']}")
            for name, way in row["ways"].items():
                print(f"   {name:<42} CV {way['cv_macro_f1']} +- {way['cv_se']}  rest of pool {way['rest_of_pool_macro_f1']:.3f}  "
                      f"predicted {way['predicted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
