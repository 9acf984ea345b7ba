"""``bin/label.sh``: apply a task's LFs to a data-set version, fit the label model, report, export.

    result = run_label("labeling/tasks/ai_tweets.toml", version=None)  # None = latest version

Applies the LFs to all four splits (chunk by chunk), fits Snorkel's ``LabelModel`` on the LF
and train splits, scores it and majority vote against golden dev/test labels, lets the golden
dev/LF/train labels pick the combiner of the votes that makes the weak targets
(``labeling.combiners``) and flag the LFs that hurt, writes
``<version dir>/<task>/{train,lf}_weak.parquet`` and records the run, its votes and the weak
targets (as ``label_model`` predictions) in PostgreSQL in one transaction.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from datasets import cli, spark
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.split_files import read_split, split_path
from datasets.store import predictions, sql, versions, votes
from datasets.store.golden import version_labels
from datasets.store.versions import SPLITS
from labeling import analysis, combiners
from labeling.applier import DEFAULT_CHUNK_ROWS, TaskApplier
from labeling.label_matrix import majority_probs
from labeling.task import Task, add_task_argument, check_class_balance, load_task
from labeling.weak_labels import weak_path

FIT_SPLITS = ("lf", "train")
EVAL_SPLITS = ("dev", "test")
#: Splits whose golden labels judge LFs and choose the weak-target combiner; test stays for honest evaluation.
GOLDEN_SPLITS = ("dev", "lf", "train")
#: Splits whose weak labels are exported (``weak_labels.weak_path``) for the end model.
WEAK_SPLITS = ("train", "lf")


@dataclass(frozen=True, slots=True)
class LabelResult(StepResult):
    """One weak-labeling run (the ``--json`` output of ``bin/label.sh``, docs/tasks.md).

    Identifies the run (``run_id``, the LF run in ``lf_runs``) and what it labeled (``task``,
    its file and hash, ``version``, the task's ``labels`` in class order); ``counts`` and
    ``coverage`` per split; ``golden`` labels per split and ``lf_golden``, those that judged the
    LFs and the combiners (never test). ``lf_summary`` has one row per LF (Snorkel's summary with
    golden precision, prior and the "hurts" flag); ``label_model`` and ``majority_vote`` their
    scores per golden evaluation split (``n``, ``accuracy``, ``macro_f1``);
    ``label_model_fallback`` is None, or the note saying majority vote stands in for the label
    model (fewer than ``analysis.MIN_LABEL_MODEL_LFS`` LFs). ``label_model_fit`` says on how many
    of the LF+train posts the label model was fitted and the LF summary computed (``rows`` of
    ``of``; ``sampled`` when the Spark engine fitted it on a bounded random sample). ``weak_targets`` is the chosen
    combiner and why (``combiners.WeakTargets.report``), ``clusters`` the clusters and votes of
    each cluster LF, ``params`` the settings used and ``outputs`` the weak parquet files.
    """

    run_id: int
    task: str
    task_file: str
    task_hash: str
    version: int
    labels: tuple[str, ...]
    lf_summary: tuple[dict[str, Any], ...]
    lf_golden: dict[str, int]
    label_model: dict[str, dict[str, Any]]
    majority_vote: dict[str, dict[str, Any]]
    label_model_fallback: str | None
    label_model_fit: dict[str, Any]
    weak_targets: dict[str, Any]
    counts: dict[str, int]
    coverage: dict[str, float]
    golden: dict[str, int]
    clusters: dict[str, Any]
    params: dict[str, Any]
    outputs: dict[str, str]


@dataclass(frozen=True)
class AppliedVotes:
    """What applying the LFs gives the label model and the report, whatever the engine.

    ``L_fit``: the votes of the LF+train posts the label model is fitted on (all ``fit_total``
    of them, or a bounded sample); ``golden``: per split, the votes and label indices of its
    golden posts in file order; ``counts`` and ``covered``: posts and posts with a vote per split.
    """

    L_fit: np.ndarray
    fit_total: int
    golden: dict[str, tuple[np.ndarray, np.ndarray]]
    counts: dict[str, int]
    covered: dict[str, int]


#: Rows of one batch of the weak targets to record: post ids, their votes, their class probabilities.
RecordBatch = tuple[list[str], np.ndarray, np.ndarray]


class LocalEngine:
    """The default engine: the LFs applied in this process, split by split, chunk by chunk."""

    def __init__(self, applier: TaskApplier, version: int, golden: dict[str, int], chunk_rows: int, progress: bool):
        self.applier, self.version, self.golden = applier, version, golden
        self.chunk_rows, self.progress = chunk_rows, progress
        self.ids: dict[str, list[str]] = {}
        self.L: dict[str, np.ndarray] = {}

    def apply(self) -> AppliedVotes:
        """The label matrix of every split, kept in memory."""
        for split in SPLITS:
            self.ids[split], self.L[split] = _apply_split(self.applier, self.version, split, self.chunk_rows,
                                                          self.progress)
        y = {s: _golden_vector(self.ids[s], self.golden) for s in SPLITS}
        L_fit = np.vstack([self.L[s] for s in FIT_SPLITS])
        return AppliedVotes(L_fit, len(L_fit), {s: (self.L[s][y[s] >= 0], y[s][y[s] >= 0]) for s in SPLITS},
                            {s: len(self.ids[s]) for s in SPLITS},
                            {s: int((self.L[s] >= 0).any(axis=1).sum()) for s in SPLITS})

    def write(self, task: Task, predict: combiners.ProbaFn, seed: int) -> tuple[dict[str, Path], list[RecordBatch]]:
        """The weak parquet files (temporary names) and the batches to record, one per split."""
        k = len(task.labels)
        probs = {s: combiners.predict_all(predict, self.L[s], k) for s in SPLITS}
        tmp_paths: dict[str, Path] = {}
        try:
            for split in WEAK_SPLITS:
                hard = analysis.hard_labels_keyed(probs[split], self.ids[split], seed)
                tmp_paths[split] = _write_weak(task, self.version, split, probs[split],
                                               (self.L[split] >= 0).any(axis=1), hard)
        except BaseException:
            remove_outputs(tmp_paths)
            raise
        return tmp_paths, [(self.ids[s], self.L[s], probs[s]) for s in SPLITS]


def _apply_split(applier: TaskApplier, version: int, split: str, chunk_rows: int,
                 progress: bool) -> tuple[list[str], np.ndarray]:
    path = split_path(version, split)
    if not path.exists():
        raise GoldloopError(f"{path}: split {split!r} of data-set version {version} is missing")
    parquet = pq.ParquetFile(path)
    ids: list[str] = []
    parts: list[np.ndarray] = []
    with tqdm(total=parquet.metadata.num_rows, desc=f"LFs on {split}", unit="post", disable=not progress) as bar:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            parts.append(applier.apply(frame, chunk_rows))
            ids.extend(frame["id"].tolist())
            bar.update(len(frame))
    return ids, (np.vstack(parts) if parts else np.zeros((0, len(applier.names)), dtype=np.int8))


def _golden_vector(ids: list[str], golden: dict[str, int]) -> np.ndarray:
    return np.array([golden.get(i, -1) for i in ids], dtype=np.int64)


def _eval_scores(golden: dict[str, tuple[np.ndarray, np.ndarray]], lm_proba: combiners.ProbaFn,
                 k: int, seed: int) -> dict[str, dict[str, Any]]:
    """Label model and majority vote against the golden labels of each of ``EVAL_SPLITS``."""
    metrics: dict[str, dict[str, Any]] = {"label_model": {}, "majority_vote": {}}
    for split in EVAL_SPLITS:
        L, y = golden[split]
        if not len(y):
            continue
        for name, p in (("label_model", lm_proba(L.astype(np.int64))), ("majority_vote", majority_probs(L, k))):
            metrics[name][split] = analysis.scores(y, analysis.hard_labels(p, seed), k)
    return metrics


def _golden_rows(golden: dict[str, tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Votes and golden labels of the golden rows of ``GOLDEN_SPLITS`` (never test)."""
    return (np.vstack([golden[s][0] for s in GOLDEN_SPLITS]).astype(np.int64),
            np.concatenate([golden[s][1] for s in GOLDEN_SPLITS]))


def _write_weak(task: Task, version: int, split: str, probs: np.ndarray, covered: np.ndarray,
                hard: np.ndarray) -> Path:
    """Write ``<split>_weak.parquet`` next to a temporary name; returns the temporary path."""
    target = weak_path(version, task.name, split)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    schema = pa.schema([("id", pa.string()), ("text", pa.string())]
                       + [(f"prob_{label}", pa.float32()) for label in task.labels]
                       + [("label", pa.string()), ("covered", pa.bool_())])
    labels = np.array(task.labels, dtype=object)
    start = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for batch in pq.ParquetFile(split_path(version, split)).iter_batches(columns=["id", "text"]):
            stop = start + batch.num_rows
            columns = [batch.column(0).cast(pa.string()), batch.column(1).cast(pa.string())]
            columns += [pa.array(probs[start:stop, k].astype(np.float32)) for k in range(len(task.labels))]
            columns += [pa.array(labels[hard[start:stop]].tolist(), pa.string()), pa.array(covered[start:stop])]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            start = stop
        if start == 0:
            writer.write_table(schema.empty_table())
    return tmp


def record_run(task: Task, version: int, summary: dict[str, Any], params: dict[str, Any],
            batches: Iterable[RecordBatch]) -> int:
    """In one transaction: the LF run, every post's votes, and the weak targets as the task's
    ``label_model`` predictions on the version, for covered posts only (a post no LF voted on gets
    no prediction). ``batches`` may stream from disk (the Spark engine): one is in memory at a
    time. Returns the run id."""
    with sql.transaction() as conn:
        run_id = votes.insert_run(conn, task=task.name, task_hash=task.sha256, version=version,
                                  lf_names=task.lf_names, label_names=task.labels, summary=summary, params=params)
        for ids, L, probs in batches:
            votes.add_votes(conn, run_id, ids, L)
            covered = (L >= 0).any(axis=1)
            predictions.upsert(conn, task=task.name, source="label_model", version=version, run_ref=str(run_id),
                               labels=task.labels, ids=np.asarray(ids, dtype=object)[covered].tolist(),
                               probs=probs[covered])
        predictions.remove_stale(conn, task=task.name, source="label_model", version=version, run_ref=str(run_id))
    return run_id


def remove_outputs(paths: dict[str, Path]) -> None:
    """Remove weak-label outputs (temporary files or directories of parts) that will not be kept."""
    for path in paths.values():
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _install(tmp: Path, target: Path) -> None:
    """Put ``tmp`` (a file, or the Spark engine's directory of parts) in the place of ``target``,
    whichever form the previous run left there."""
    if target.is_dir():
        shutil.rmtree(target)
    elif tmp.is_dir():
        target.unlink(missing_ok=True)
    tmp.replace(target)


@contextmanager
def _engine(master: str | None, applier: TaskApplier, version: int, golden: dict[str, int], chunk_rows: int,
            progress: bool) -> Iterator[LocalEngine | Any]:
    """The engine that applies the LFs and writes the weak targets: this process, or Spark on ``master``."""
    if master is None:
        yield LocalEngine(applier, version, golden, chunk_rows, progress)
        return
    from labeling import label_spark

    with label_spark.engine(master, applier, version, golden, progress) as spark_engine:
        yield spark_engine


def run_label(task_path: Path | str | None = None, version: int | None = None, *, seed: int | None = None,
              class_balance: list[float] | None = None, progress: bool = True,
              chunk_rows: int = DEFAULT_CHUNK_ROWS, master: str | None = None) -> LabelResult:
    """Label a data-set version with a task's LFs and the label model; see the module docstring.

    ``seed`` and ``class_balance`` override the task's ``[label_model]`` settings. With a Spark
    ``master`` the LFs and the weak targets are computed by Spark tasks (:mod:`labeling.label_spark`);
    everything else is the same code.
    """
    task = load_task(task_path)
    if not task.lfs:
        raise GoldloopError(f"{task.path}: no labeling functions; add at least one [[lfs]] entry (docs/tasks.md)")
    params = dict(task.label_model)
    if seed is not None:
        params["seed"] = seed
    if class_balance is not None:
        params["class_balance"] = check_class_balance("--class-balance", class_balance, task.labels)
    with sql.transaction() as conn:
        version = versions.resolve(conn, version)
        golden = {g.post_id: task.labels.index(g.label) for g in version_labels(conn, task.name, version)
                  if g.label in task.labels}
    applier = TaskApplier(task)
    if not applier.fitted:
        lf_frame = read_split(version, "lf")
        applier.fit(lf_frame, _golden_vector(lf_frame["id"].tolist(), golden))

    with _engine(master, applier, version, golden, chunk_rows, progress) as engine:
        applied = engine.apply()
        if not applied.fit_total:
            raise GoldloopError(f"data-set version {version} has no posts in its LF and train splits")
        k = len(task.labels)
        fallback = analysis.label_model_fallback(len(task.lfs), str(task.path))
        model = None if fallback else analysis.fit_label_model(applied.L_fit, k, params, progress)
        lm_proba = model.predict_proba if model is not None else (lambda rows: majority_probs(rows, k))
        metrics = _eval_scores(applied.golden, lm_proba, k, params["seed"])
        L_gold, y_gold = _golden_rows(applied.golden)
        targets = combiners.choose_weak_targets(model, L_gold, y_gold, task.labels, params["seed"],
                                                "/".join(GOLDEN_SPLITS))
        lf_summary = tuple(analysis.lf_summary(applied.L_fit, task.lf_names, [lf.kind for lf in task.lfs],
                                               task.labels, L_gold, y_gold,
                                               weights=None if model is None else model.get_weights()))
        counts = applied.counts
        coverage = {s: round(applied.covered[s] / counts[s], 4) if counts[s] else 0.0 for s in SPLITS}
        golden_counts = {s: len(applied.golden[s][1]) for s in SPLITS}
        clusters = {lf.name: lf.report_ for lf in applier.clusters.values()}
        fit = {"rows": len(applied.L_fit), "of": applied.fit_total, "sampled": len(applied.L_fit) < applied.fit_total}
        summary = {"lf_summary": lf_summary, "lf_golden": {s: golden_counts[s] for s in GOLDEN_SPLITS}, **metrics,
                   "label_model_fallback": fallback, "label_model_fit": fit, "weak_targets": targets.report(),
                   "counts": counts, "coverage": coverage, "golden": golden_counts}
        params["weak_targets"] = {"choice": targets.choice, "min_golden": combiners.MIN_GOLDEN,
                                  "min_per_class": combiners.MIN_PER_CLASS, "folds": combiners.CV_FOLDS,
                                  "supervised_C": combiners.SUPERVISED_C}
        params.update(engine="default" if master is None else "spark", master=master)
        tmp_paths, batches = engine.write(task, targets.predict_proba, params["seed"])
        try:
            run_id = record_run(task, version, summary, {**params, "chunk_rows": chunk_rows, "clusters": clusters},
                             batches)
        except BaseException:
            remove_outputs(tmp_paths)
            raise
    outputs = {}
    for split, tmp in tmp_paths.items():
        target = weak_path(version, task.name, split)
        _install(tmp, target)
        outputs[f"{split}_weak"] = str(target)
    return LabelResult(run_id=run_id, task=task.name, task_file=str(task.path), task_hash=task.sha256,
                       version=version, labels=tuple(task.labels), **summary, clusters=clusters, params=params,
                       outputs=outputs)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _lf_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Snorkel's LF summary as aligned text; "HURTS" marks LFs less precise than their label's prior."""
    header = ["LF", "kind", "polarity", "coverage", "overlaps", "conflicts", "correct", "incorrect", "emp.acc",
              "prior", "weight", "hurts"]
    table = [header] + [[r["name"], r["kind"], ",".join(r["polarity"]) or "-", _pct(r["coverage"]),
                         _pct(r["overlaps"]), _pct(r["conflicts"]), _count(r["correct"]), _count(r["incorrect"]),
                         _pct(r["emp_acc"]), _pct(r["prior"]),
                         "-" if r["weight"] is None else f"{r['weight']:.2f}", "HURTS" if r["hurts"] else ""]
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i < 3 or i == len(header) - 1 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in table]


def _lf_golden_lines(result: LabelResult) -> list[str]:
    """Which golden labels judged the LFs, and the LFs that hurt."""
    used = result.lf_golden
    if not sum(used.values()):
        return ["correct/incorrect/emp.acc/prior: no golden labels on " + "/".join(GOLDEN_SPLITS)]
    lines = [f"correct/incorrect/emp.acc/prior on {sum(used.values())} golden labels ("
             + ", ".join(f"{s} {n}" for s, n in used.items()) + "; test labels are never used here)"]
    hurting = [r for r in result.lf_summary if r["hurts"]]
    if hurting:
        lines.append("LFs that hurt (golden precision below their label's prior): "
                     + ", ".join(f"{r['name']} ({r['precision']:.2f} < {r['prior']:.2f})" for r in hurting))
    return lines


def _eval_table(result: LabelResult) -> list[str]:
    """Label model and majority vote side by side on each golden evaluation split."""
    lines = [f"{'split':<6} {'golden':>6}  {'label model acc':>15} {'macro-F1':>8}  "
             f"{'majority vote acc':>17} {'macro-F1':>8}"]
    for split in EVAL_SPLITS:
        lm, mv = result.label_model.get(split), result.majority_vote.get(split)
        if lm is None:
            lines.append(f"{split:<6} {0:>6}  (no golden labels)")
            continue
        lines.append(f"{split:<6} {lm['n']:>6}  {_pct(lm['accuracy']):>15} {lm['macro_f1']:>8.3f}  "
                     f"{_pct(mv['accuracy']):>17} {mv['macro_f1']:>8.3f}")
    return lines


def format_result(result: LabelResult) -> str:
    """The human summary: LF table and "hurts" flags, the scores per split, the weak-target choice, outputs."""
    lines = [f"task {result.task} on data-set version {result.version} (LF run {result.run_id}): "
             f"{len(result.lf_summary)} LFs; label model fitted on "
             f"{result.counts['lf'] + result.counts['train']:,} LF+train posts"]
    lines += _lf_table(result.lf_summary) + _lf_golden_lines(result) + [""] + _eval_table(result)
    if result.label_model_fallback:
        lines.append(f"note: {result.label_model_fallback}")
    fit = result.label_model_fit
    if fit["sampled"]:
        lines.append(f"note: the label model and the LF summary were fitted on a random sample of {fit['rows']:,} "
                     f"of the {fit['of']:,} LF+train posts (the matrix is larger than the driver is given)")
    lines.append(combiners.describe(result.weak_targets))
    lines.append("coverage: " + ", ".join(f"{s} {_pct(c)} of {result.counts[s]:,}" for s, c in result.coverage.items()))
    lines += [f"wrote {path}" for path in result.outputs.values()]
    return "\n".join(lines)


def _balance(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise GoldloopError(f"--class-balance: expected comma-separated probabilities, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bin/label.sh``."""
    p = cli.parser("bin/label.sh", "Apply a task's labeling functions to a data-set version, fit Snorkel's label "
                               "model, print the LF summary and scores, and write train_weak.parquet.", progress=True)
    add_task_argument(p)
    p.add_argument("--version", type=int, default=None, help="data-set version (default: the latest)")
    p.add_argument("--seed", type=int, default=None, help="label-model seed (default: the task's [label_model])")
    p.add_argument("--class-balance", type=_balance, default=None, metavar="P0,P1,...",
                   help="class priors in label order (default: the task's, else learned)")
    p.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS, help="posts per applier chunk")
    spark.add_engine_arguments(p)
    args = p.parse_args(argv)
    master = spark.engine_of(args)
    if args.chunk_rows < 1:
        raise GoldloopError("--chunk-rows must be at least 1")
    result = run_label(args.task, args.version, seed=args.seed, class_balance=args.class_balance,
                       progress=not args.quiet, chunk_rows=args.chunk_rows, master=master)
    cli.emit(result, args.json, format_result)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
