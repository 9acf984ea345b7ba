"""Benchmark: the vectorized LF applier against Snorkel's PandasLFApplier on the ai_tweets LFs.

    .venv/bin/python bench/lf_apply.py [--rows 200000] [--snorkel-rows 10000] [--memory-rows 1000000] [--json]

1. Generates ``--rows`` synthetic posts (labeling.synthetic), fits the task's cluster LF on 10,000
   of them, and times our applier on all rows and Snorkel's ``PandasLFApplier`` (on the same LFs
   as row-wise Snorkel functions, ``TaskApplier.snorkel_lfs``) on the first ``--snorkel-rows``
   rows; Snorkel's rate is per row, so its time for all rows is extrapolated when the subset is
   smaller. The matrices are compared on the common rows. Measured twice: the keyword/regex LFs
   alone (the headline ``speedup``), and the whole task including the cluster LF.
2. In a child process: applies 20 LFs (ai_tweets plus 7 more keyword/regex LFs) to
   ``--memory-rows`` posts, generated and labeled 50,000 at a time as ``bin/label.sh`` reads
   parquet batches, and fits the label model on the whole matrix; reports the child's peak RSS.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from snorkel.labeling import PandasLFApplier  # noqa: E402

from datasets import jsonout  # noqa: E402
from labeling import analysis, synthetic  # noqa: E402
from labeling.applier import TaskApplier  # noqa: E402
from labeling.task import TASKS_DIR, load_task  # noqa: E402

TASK = TASKS_DIR / "ai_tweets.toml"
CHUNK = 50_000
EXTRA_LFS = "".join(f'\n[[lfs]]\nname = "extra_{i}"\nkind = "{kind}"\nlabel = "{label}"\nfield = "{field}"\n{body}\n'
                    for i, (kind, label, field, body) in enumerate([
                        ("keyword", "ai", "text", 'terms = ["python", "pandas", "model"]'),
                        ("keyword", "not_ai", "text", 'terms = ["love", "today", "great time"]'),
                        ("regex", "ai", "text", 'patterns = ["\\\\bgpt-?\\\\d", "\\\\bllms?\\\\b"]\nflags = ["i"]'),
                        ("regex", "not_ai", "text", 'patterns = ["^RT @"]'),
                        ("keyword", "ai", "author", 'terms = ["ai_news", "ml-weekly"]'),
                        ("keyword", "not_ai", "source_app", 'terms = ["IFTTT"]'),
                        ("keyword", "ai", "url_domains", 'terms = ["github.com"]'),
                        ]))


def task_subset(keep_cluster: bool, tmp: Path, extra: bool = False):
    """The ai_tweets task, optionally without its cluster LF, optionally with the extra LFs."""
    text = TASK.read_text(encoding="utf-8")
    if not keep_cluster:
        start = text.index('[[lfs]]\nname = "cluster_topics"')
        text = text[:start] + text[text.index("[label_model]"):]
    if extra:
        head, tail = text.split("[label_model]")
        text = head + EXTRA_LFS + "\n[label_model]" + tail
    path = tmp / f"ai_tweets_{int(keep_cluster)}{int(extra)}.toml"
    path.write_text(text, encoding="utf-8")
    return load_task(path)


def compare(task, frame, snorkel_rows: int) -> dict:
    """Time ours on ``frame`` and Snorkel on its first ``snorkel_rows`` rows; compare matrices."""
    applier = TaskApplier(task).fit(synthetic.posts(10_000, seed=99))
    start = time.perf_counter()
    ours = applier.apply(frame)
    ours_s = time.perf_counter() - start
    subset = frame.iloc[:snorkel_rows]
    start = time.perf_counter()
    reference = PandasLFApplier(applier.snorkel_lfs()).apply(subset, progress_bar=False)
    snorkel_s = time.perf_counter() - start
    ours_rate, snorkel_rate = len(frame) / ours_s, len(subset) / snorkel_s
    return {"lfs": len(task.lfs), "rows": len(frame), "snorkel_rows": len(subset),
            "ours_s": round(ours_s, 3), "snorkel_s": round(snorkel_s, 3),
            "snorkel_s_extrapolated": round(len(frame) / snorkel_rate, 1),
            "rows_per_s": round(ours_rate), "snorkel_rows_per_s": round(snorkel_rate),
            "speedup": round(ours_rate / snorkel_rate, 1),
            "equal": bool(np.array_equal(ours[:len(subset)], reference)),
            "coverage": round(float((ours >= 0).any(axis=1).mean()), 4)}


def memory_child(rows: int, tmp: Path) -> dict:
    """Apply 20 LFs to ``rows`` posts and fit the label model; report peak RSS (runs in a child)."""
    task = task_subset(True, tmp, extra=True)
    start = time.perf_counter()
    applier = TaskApplier(task).fit(synthetic.posts(10_000, seed=99))
    chunks = (synthetic.posts(min(CHUNK, rows - start), seed=start) for start in range(0, rows, CHUNK))
    L = np.vstack(list(applier.apply_batches(chunks)))
    model = analysis.fit_label_model(L, 2, task.label_model, progress=False)
    probs = model.predict_proba(L.astype(np.int64))
    return {"rows": rows, "lfs": len(task.lfs), "seconds": round(time.perf_counter() - start, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "covered": round(float((L >= 0).any(axis=1).mean()), 4), "mean_prob_ai": round(float(probs[:, 1].mean()), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--snorkel-rows", type=int, default=10_000, help="rows Snorkel runs on (its rate is extrapolated)")
    p.add_argument("--memory-rows", type=int, default=1_000_000, help="rows of the peak-memory run (0 = skip)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child-memory", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.child_memory:
            print(jsonout.dumps(memory_child(args.child_memory, tmp)))
            return
        frame = synthetic.posts(args.rows, seed=1)
        rules = compare(task_subset(False, tmp), frame, min(args.snorkel_rows, args.rows))
        full = compare(task_subset(True, tmp), frame, min(args.snorkel_rows, args.rows))
    memory = None
    if args.memory_rows:
        child = subprocess.run([sys.executable, __file__, "--child-memory", str(args.memory_rows)],
                               capture_output=True, text=True, check=True)
        memory = json.loads(child.stdout.strip().splitlines()[-1])
    result = {"rows": args.rows, "speedup": rules["speedup"], "equal": rules["equal"] and full["equal"],
              "rows_per_s": rules["rows_per_s"], "keyword_regex": rules, "with_cluster": full, "memory": memory}
    if args.json:
        print(jsonout.dumps(result))
        return
    for name, r in (("keyword+regex LFs", rules), ("all LFs incl. cluster", full)):
        print(f"{name} ({r['lfs']} LFs, {r['rows']:,} posts): ours {r['rows_per_s']:,} rows/s ({r['ours_s']} s), "
              f"Snorkel PandasLFApplier {r['snorkel_rows_per_s']:,} rows/s on {r['snorkel_rows']:,} rows "
              f"(~{r['snorkel_s_extrapolated']} s for all) -> {r['speedup']}x, equal matrices: {r['equal']}")
    if memory:
        print(f"peak RSS, {memory['lfs']} LFs + label model on {memory['rows']:,} posts: {memory['peak_rss_mb']} MB "
              f"({memory['seconds']} s)")


if __name__ == "__main__":
    main()
