"""How the first batch's order carries through a simulated run, on pool labels only.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/cold_start.py \\
        --task TASK_FILE --gold GOLD_FILE [--batch 50] [--labels 50,100] [--seeds 3] [--json]

Run it on the workspace an acceptance script left behind (``bench/airline_simulation.sh`` or
``bench/youtube_simulation.sh`` with a WORK_DIR). It replays the simulation
(``models.simulate.simulate_run``: same rounds, seeds and model selection) for three runs:

- ``top``: uncertainty as shipped (the cold start takes each LF class's posts best entropy first);
- ``power``: uncertainty with the cold start drawn by power sampling inside each LF class, as
  before the eighth session;
- ``random``: random picks.

Each run's model after ``--labels`` bought posts is scored on the pool posts that no run and no
seed bought up to the largest of ``--labels``: uncertainty buys the pool's hardest posts, so each
run's own rest of the pool would be easier for it than for random picks. The gold file is the
simulated annotator; no test label is read. docs/benchmarks.md ("The cold start's order").
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402


def power_drawn_cold_start(build):
    """``models.active.build_strategy`` as it was: power sampling inside the cold start too."""
    from models import active

    def build_strategy(name, params, *, cold_start, embed=None):
        strategy = build(name, params, cold_start=cold_start, embed=embed)
        if not cold_start or name == "random" or params.acquisition != "power":
            return strategy
        outer = strategy if isinstance(strategy, active.DistinctBatch) else None
        cold = outer.base if outer else strategy
        powered = dataclasses.replace(cold, base=active.PowerSampling(cold.base, params.beta))
        return dataclasses.replace(outer, base=powered) if outer else powered

    return build_strategy


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--labels", default="50,100", help="comma-separated numbers of labels bought")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    import numpy as np

    from bench.selection_cv import acceptance_setting, bought_golden, fit_on, replay
    from models import active
    from models.metrics import classification_metrics

    task, setting = acceptance_setting(args.task, args.gold)
    checkpoints = sorted(int(n) for n in args.labels.split(","))
    shipped = active.build_strategy
    bought: dict[tuple[str, int], list[int]] = {}
    for run, strategy in (("top", "entropy"), ("power", "entropy"), ("random", "random")):
        active.build_strategy = power_drawn_cold_start(shipped) if run == "power" else shipped
        try:
            for seed in range(args.seeds):
                bought[run, seed] = replay(setting, strategy, seed, checkpoints[-1], args.batch)[0]
        finally:
            active.build_strategy = shipped
    unbought = np.ones(len(setting.pool), dtype=bool)
    for rows in bought.values():
        unbought[rows] = False
    scored = np.flatnonzero(unbought)
    y, posts = setting.pool["y"].to_numpy(int)[scored], setting.pool_posts.take(scored)
    scores: dict[str, dict[str, list[dict[str, float]]]] = {}
    for (run, seed), rows in bought.items():
        for n in checkpoints:
            _, golden = bought_golden(setting, rows[:n])
            params = dataclasses.replace(setting.tparams, seed=seed)
            clf, _ = fit_on(task, setting, params, golden)
            m = classification_metrics(y, clf.predict(posts), task.labels)
            scores.setdefault(run, {}).setdefault(str(n), []).append(
                {k: round(m[k], 4) for k in ("accuracy", "macro_f1")})
    out = {"scored_posts": len(scored), "pool": len(setting.pool), "runs": scores}
    if args.json:
        print(jsonout.dumps(out, sort_keys=True))
    else:
        print(f"scored on the {len(scored):,} of {len(setting.pool):,} pool posts no run bought "
              "(accuracy / macro-F1 per seed)")
        for run, by_n in scores.items():
            for n, rows in by_n.items():
                print(f"  {run:<7} {n:>4} labels: " + "  ".join(f"{r['accuracy']:.3f} / {r['macro_f1']:.3f}"
                                                             for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
