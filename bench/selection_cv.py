"""Pool cross-validation scores of the ways to use the LFs, on random golden labels of the pool.

    GOLDLOOP_HOME=<workspace of an acceptance run> .venv/bin/python bench/selection_cv.py \\
        --task TASK_FILE --gold GOLD_FILE [--labels 100,300] [--draws 3] [--json]

Run it on the workspace an acceptance script left behind (``bench/airline_simulation.sh`` or
``bench/youtube_simulation.sh`` with a WORK_DIR): for each draw of ``--labels`` random pool posts
(seeds 100, 101, ...) it runs stage 2 of model selection (``models.selection``) with the
``tfidf+encoder`` representation and L2 0.001 fixed, and prints every candidate's out-of-fold
macro-F1. Only pool labels are used: no test label is read. This is the evidence behind the
stage-2 preference order (docs/loop.md).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from datasets import jsonout  # noqa: E402


def acceptance_setting(task_path: str, gold_path: str) -> tuple[Any, Any]:
    """The task and the simulation's setting (``models.simulate.prepare``) on the newest version of
    the workspace an acceptance script left behind; its label run is reused, not redone."""
    from datasets.store import versions
    from datasets.store.db import get_engine
    from labeling.task import load_task
    from models.params import active_params, train_params
    from models.simulate import prepare, read_gold

    task = load_task(task_path)
    engine = get_engine()
    with engine.connect() as conn:
        version = versions.resolve(conn, None)
    return task, prepare(engine, task, version, read_gold(gold_path, task), train_params(task), active_params(task))


def replay(setting: Any, strategy: str, seed: int, budget: int, batch: int) -> tuple[list[int], list[dict[str, Any]]]:
    """The simulation's own run (``models.simulate.simulate_run``: same picks, seed and models)
    and the pool rows it bought, in order."""
    from models import simulate

    bought: list[int] = []
    rank_pool = simulate.rank_pool

    def recording_rank_pool(*a: Any, **kw: Any) -> Any:
        ranked = rank_pool(*a, **kw)
        bought.extend(ranked["post_id"].astype(int))
        return ranked

    simulate.rank_pool = recording_rank_pool
    try:
        points = simulate.simulate_run(setting, strategy, seed, budget, batch)
    finally:
        simulate.rank_pool = rank_pool
    return bought, points


def bought_golden(setting: Any, bought: list[int]) -> tuple[Any, Any]:
    """The pool mask of the ``bought`` rows, and the golden labels a model trained after buying
    them sees: dev's, then the bought posts'."""
    import numpy as np
    import pandas as pd

    labeled = np.zeros(len(setting.pool), dtype=bool)
    labeled[bought] = True
    columns = ["id", "split", "y"]
    return labeled, pd.concat([setting.dev_golden[columns], setting.pool[labeled][columns]], ignore_index=True)


def fit_on(task: Any, setting: Any, params: Any, golden: Any) -> tuple[Any, Any]:
    """``models.train.fit_selected`` on the setting's weak labels, LF votes and dev texts plus
    ``golden``, as the simulation trains: ``(classifier, selection)``."""
    from models.train import fit_selected, training_set

    return fit_selected(task, params, training_set(task, params, setting.weak, golden, setting.dev_texts,
                                                   setting.votes))


def pool_label_arguments(description: str, *, labels: str, draws: int) -> argparse.ArgumentParser:
    """The options of a bench on draws of random pool labels: the acceptance workspace's task and
    gold files, the numbers of labels (default ``labels``), the draws per number, ``--json``."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True)
    p.add_argument("--gold", required=True)
    p.add_argument("--labels", default=labels, help="comma-separated numbers of random pool labels")
    p.add_argument("--draws", type=int, default=draws)
    p.add_argument("--json", action="store_true")
    return p


def main() -> int:
    args = pool_label_arguments(__doc__, labels="100,300", draws=3).parse_args()
    import numpy as np

    from models.selection import select
    from models.train import training_set

    task, setting = acceptance_setting(args.task, args.gold)
    scores: dict[str, dict[str, list[float]]] = {}
    for n in (int(x) for x in args.labels.split(",")):
        for draw in range(args.draws):
            picked = setting.pool.sample(n, random_state=100 + draw)[["id", "split", "y"]]
            params = dataclasses.replace(setting.tparams, seed=draw, architecture="tfidf+encoder", l2=0.001,
                                         select_architectures=["tfidf+encoder"], select_l2=[0.001], select_min_golden=1)
            tset = training_set(task, params, setting.weak, picked, setting.dev_texts, setting.votes)
            n_lfs = 0 if tset.golden.votes is None else tset.golden.votes.shape[1]
            for row in select(params, tset.cv_data(params), task.labels, n_lfs=n_lfs).scores:
                if row["stage"] == 2:
                    scores.setdefault(str(n), {}).setdefault(row["candidate"], []).append(row["cv_macro_f1"])
    out = {n: {c: {"mean": round(float(np.mean(v)), 3), "draws": v} for c, v in by.items()} for n, by in scores.items()}
    if args.json:
        print(jsonout.dumps(out, sort_keys=True))
    else:
        for n, by in out.items():
            for candidate, row in sorted(by.items(), key=lambda kv: -kv[1]["mean"]):
                print(f"{n:>5} labels  {candidate:<45} {row['mean']:.3f}  {row['draws']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
