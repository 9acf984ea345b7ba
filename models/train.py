"""Train the end model on weak labels plus golden labels, save it, and record the run.

Training data: every post of the ``weak_splits`` (default LF + train) that at least one LF
covered, with the label model's class probabilities as soft targets; golden labels on those
splits replace the soft target with a one-hot target and weigh ``golden_weight`` times more.
Whether weak labels are used at all, at which golden weight, whether LF votes become input
features, and which text representation wins is decided first by cross-validation over the
golden labels of those splits and dev (:mod:`models.selection`); every candidate's score goes
to the model card and the run. A chosen model with the encoder block reads the encoder
fine-tuned on the golden labels at label milestones (:mod:`models.finetune`; a loop iteration
leaves the tuning to a background job, :mod:`models.tuning_job`); the newest tuned encoder is
reused between milestones. The linear models then train on the dev labels too (the bilstm keeps
them for early stopping): the golden test set is what stays held out. The model goes to
``$GOLDLOOP_HOME/models/<task>/run-<id>/`` (``model.keras``, ``saved_model/``,
``model_card.json``), its predictions on every split of the version to ``predictions``
(source ``end_model``), and the run to ``runs`` (kind ``train``), all or nothing.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from datasets import cli, workspace
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import predictions, runs, versions
from datasets.store.db import get_engine
from labeling.task import Task, load_task
from models import data, encoder, tracking, tuning_job
from models.classifier import HeadRows, TextClassifier
from models.cliargs import add_task_arguments
from models.data import LFVotes
from models.features import Posts
from models.finetune import choose_encoder, newest_tuned
from models.params import ARCHITECTURES, LINEAR_ARCHITECTURES, TrainParams, train_params
from models.selection import CVData, Selection, ensemble_members, select

MODEL_CARD = "model_card.json"


@dataclass(frozen=True, slots=True)
class TrainResult(StepResult):
    """One trained model (the ``--json`` output of ``bin/train.sh``, docs/loop.md).

    ``run_id`` is its ``runs`` row (kind ``train``), which evaluation and the loop refer to;
    ``model_path`` its directory, with the ``keras`` file and the ``saved_model`` export for TF
    Serving; ``architecture`` the one chosen, ``selection`` how (``Selection.to_json``: every
    candidate's CV score); ``golden`` the golden labels per role (train, dev, test) and
    ``training`` the rows used and the fit's figures; ``predictions`` the posts of the version
    it predicted (written as ``end_model`` predictions).
    """

    run_id: int
    task: str
    version: int
    model_path: str
    keras: str
    saved_model: str
    architecture: str
    golden: dict[str, int]
    training: dict[str, Any]
    selection: dict[str, Any]
    predictions: int


@dataclass
class TrainingSet:
    """What one training can use: weak rows (soft targets), golden rows of the weak splits and
    golden dev rows, each with ids, texts and (when an LF run exists) LF votes."""

    weak: Posts
    weak_targets: np.ndarray
    golden: Posts
    golden_y: np.ndarray
    dev: Posts
    dev_y: np.ndarray
    counts: dict[str, int]

    def posts(self) -> Posts:
        """Weak rows, golden rows and dev rows, in the order :meth:`head_rows` indexes."""
        return Posts.concat([self.weak, self.golden, self.dev])

    def head_rows(self, params: TrainParams) -> HeadRows:
        """The rows of :meth:`posts` a model with ``params`` is fitted on: the golden labels
        cross-validation judged by (weak splits and dev; the bilstm keeps dev for early
        stopping), plus the weak rows weighing ``1 / golden_weight`` of a golden label when
        ``use_weak``."""
        k = self.weak_targets.shape[1]
        golden_y = np.concatenate([self.golden_y, self.dev_y] if params.architecture in LINEAR_ARCHITECTURES
                                  else [self.golden_y])
        n_weak = len(self.weak) if params.use_weak else 0
        index = np.concatenate([np.arange(n_weak), len(self.weak) + np.arange(len(golden_y))]).astype(int)
        targets = np.vstack([self.weak_targets[:n_weak], np.eye(k, dtype="float32")[golden_y]])
        weights = np.concatenate([np.ones(n_weak), np.full(len(golden_y), params.golden_weight)])
        return HeadRows(index, targets, weights, np.arange(len(weights)) >= n_weak, params.lf_features)

    def fit_rows(self, params: TrainParams) -> tuple[Posts, np.ndarray, np.ndarray, np.ndarray]:
        """Posts, targets, sample weights and the golden-row mask of the final fit under ``params``."""
        rows = self.head_rows(params)
        return self.posts().take(rows.index), rows.targets, rows.weights, rows.golden

    def cv_data(self, params: TrainParams) -> CVData:
        """Golden rows of the weak splits and dev for cross-validation, and a weighted sample of
        at most ``select_weak_rows`` weak rows (drawn with ``seed``) that joins every fold."""
        rng = np.random.default_rng(params.seed)
        n_weak = len(self.weak)
        sample = np.sort(rng.choice(n_weak, min(n_weak, params.select_weak_rows), replace=False))
        return CVData(golden=Posts.concat([self.golden, self.dev]), golden_y=np.concatenate([self.golden_y, self.dev_y]),
                      weak=self.weak.take(sample), weak_targets=self.weak_targets[sample],
                      weak_scale=n_weak / max(len(sample), 1))


def training_set(task: Task, params: TrainParams, weak: pd.DataFrame, golden: pd.DataFrame,
                 dev_texts: pd.DataFrame, votes: LFVotes | None = None) -> TrainingSet:
    """Combine weak rows (``data.read_weak``), golden labels (``data.golden_labels``) and LF votes.

    ``dev_texts`` holds ``id, text`` of the dev split. Golden labels outside the weak splits
    and the dev split (e.g. test) are never used for training or selection.
    """
    golden_pool = golden[golden["split"].isin(params.weak_splits)]
    golden_rows = golden_pool.merge(weak[["id", "text"]], on="id", how="inner")
    weak_rows = weak[weak["covered"].astype(bool) & ~weak["id"].isin(golden_rows["id"])]
    soft = weak_rows[data.prob_columns(task)].to_numpy("float64") ** (1.0 / params.target_temperature)
    soft = soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-12)
    if not len(weak_rows) and not len(golden_rows):
        raise GoldloopError(f"nothing to train {task.name!r} on: no LF covers any post and no golden labels"
                            f" on splits {params.weak_splits}")
    dev = golden[golden["split"] == "dev"].merge(dev_texts[["id", "text"]], on="id", how="inner")
    return TrainingSet(weak=data.posts(weak_rows, votes), weak_targets=soft.astype("float32"),
                       golden=data.posts(golden_rows, votes), golden_y=golden_rows["y"].to_numpy(int),
                       dev=data.posts(dev, votes), dev_y=dev["y"].to_numpy(int),
                       counts={"weak": len(weak_rows), "golden_train": len(golden_rows), "golden_dev": len(dev),
                               "uncovered_dropped": int((~weak["covered"].astype(bool)).sum())})


def fit_selected(task: Task, params: TrainParams, tset: TrainingSet, progress: bool = False,
                 previous_encoder: str | None = None,
                 background: tuning_job.Background | None = None) -> tuple[TextClassifier, Selection]:
    """Choose the training settings by cross-validation (:mod:`models.selection`), then fit a
    fresh :class:`TextClassifier` on every row those settings use.

    A chosen architecture with the encoder block reads the encoder :func:`models.finetune.choose_encoder`
    picks: tuned on the golden labels at milestones (in a background job with ``background``),
    ``previous_encoder`` (the last training's) between them. Selection itself always scores the
    frozen base encoder.
    """
    n_lfs = 0 if tset.golden.votes is None else tset.golden.votes.shape[1]
    selection = select(params, tset.cv_data(params), task.labels, n_lfs=n_lfs, progress=progress)
    chosen = selection.params
    if not chosen.use_weak and not len(tset.golden) + len(tset.dev):
        chosen = dataclasses.replace(chosen, use_weak=True, lf_features=False, ensemble=False)
        selection = dataclasses.replace(selection, params=chosen, reason=selection.reason
                                        + "; no golden labels on the weak splits or dev yet, so the weak labels are used")
    if "encoder" in chosen.architecture.split("+"):
        golden = Posts.concat([tset.golden, tset.dev])
        choice = choose_encoder(params, golden.texts, np.concatenate([tset.golden_y, tset.dev_y]), previous_encoder,
                                background=background, progress=progress)
        chosen = dataclasses.replace(chosen, encoder=choice.name)
        selection = dataclasses.replace(selection, params=chosen, encoder=choice.to_json())
    if chosen.ensemble:
        members = [m.params(chosen) for m in ensemble_members(chosen, n_lfs > 0 and tset.golden.votes is not None,
                                                              len(tset.weak) > 0)]
        chosen = dataclasses.replace(chosen, use_weak=any(m.use_weak for m in members),
                                     lf_features=any(m.lf_features for m in members))
        selection = dataclasses.replace(selection, params=chosen)
        clf = TextClassifier(task.labels, chosen, n_lfs=n_lfs).fit_average(tset.posts(),
                                                                           [tset.head_rows(m) for m in members])
    else:
        posts, targets, weights, golden_rows = tset.fit_rows(chosen)
        validation = (tset.dev, tset.dev_y) if len(tset.dev) and chosen.architecture not in LINEAR_ARCHITECTURES \
            else None
        clf = TextClassifier(task.labels, chosen, n_lfs=n_lfs).fit(posts, targets, sample_weight=weights,
                                                                  scale_rows=golden_rows, validation=validation)
    return clf, selection


def last_tuned_encoder(conn: Connection, task_name: str) -> str | None:
    """The fine-tuned encoder to build on: of the task's newest training that read one and the
    task's finished background tuning, the one tuned on more golden labels (None: neither)."""
    trained = next((name for run in reversed(runs.of_task(conn, task_name, "train"))
                    if (name := (run["params"] or {}).get("encoder", "")).startswith(encoder.TUNED_PREFIX)), None)
    job = tuning_job.read(task_name)
    return newest_tuned([trained, job.encoder if job is not None and job.status == tuning_job.DONE else None])


def golden_counts(golden: pd.DataFrame, params: TrainParams) -> dict[str, int]:
    """Golden labels per role: ``train`` (on the weak splits), ``dev`` and ``test``."""
    return {"train": int(golden["split"].isin(params.weak_splits).sum()),
            "dev": int((golden["split"] == "dev").sum()), "test": int((golden["split"] == "test").sum())}


def run_dir(task: Task, run_id: int) -> Path:
    """Directory of a trained model: ``models_dir()/<task>/run-<id>``."""
    return workspace.models_dir() / task.name / f"run-{run_id}"


def train(task: Task, version: int, engine: Engine, params: TrainParams, progress: bool = True,
          tune_in_background: bool = False) -> tuple[TrainResult, TextClassifier, pd.DataFrame]:
    """Train, save and record one model.

    ``tune_in_background`` (the loop): at a fine-tuning milestone, tune the encoder and encode the
    version's posts in a :mod:`models.tuning_job` and fit on the encoder in use meanwhile, instead
    of waiting for both here.

    Returns the result, the fitted classifier and its predictions on every post of the version
    (indexed by post id, one probability column per label).
    """
    weak = data.read_weak(version, task, params.weak_splits)
    golden = data.golden_labels(engine, task, version)
    dev_texts = data.read_texts(version, ["dev"])
    votes = data.lf_votes(engine, task, version)
    tset = training_set(task, params, weak, golden, dev_texts, votes)
    everything = data.read_texts(version, versions.SPLITS)
    with engine.connect() as conn:
        previous = last_tuned_encoder(conn, task.name)
    background = (tuning_job.Background(task.name, everything["id"].tolist(), everything["text"].tolist())
                  if tune_in_background else None)
    started = time.perf_counter()
    clf, selection = fit_selected(task, params, tset, progress, previous, background)
    seconds = time.perf_counter() - started
    chosen = selection.params
    _say(progress, f"trained {chosen.architecture} on {tset.counts['weak'] if chosen.use_weak else 0} weak + "
                   f"{tset.counts['golden_train']} golden labels (dev: {tset.counts['golden_dev']})")
    _say(progress, f"predicting {len(everything)} posts")
    probs = clf.predict_proba(data.posts(everything, votes))
    lf_run_id = votes.run_id
    golden_n = golden_counts(golden, params)
    training = {**tset.counts, "weak_used": tset.counts["weak"] if chosen.use_weak else 0,
                "seconds": round(seconds, 3), "solver_iterations": clf.n_iter_,
                "epochs_run": len(clf.history.get("loss", [])),
                "final_loss": clf.history.get("loss", [None])[-1],
                "best_val_loss": min(clf.history["val_loss"]) if "val_loss" in clf.history else None}
    tmp: Path | None = None
    with engine.begin() as conn:
        run_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=version, kind="train",
                             params=asdict(chosen), metrics={"training": training, "selection": selection.to_json()},
                             lf_run_id=lf_run_id, golden=golden_n)
        final = run_dir(task, run_id)
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            paths = clf.save(tmp)
            card = {"task": task.name, "task_file": str(task.path), "task_hash": task.sha256,
                    "data_version": version, "run_id": run_id, "lf_run_id": lf_run_id,
                    "created_at": datetime.now(timezone.utc).isoformat(), "labels": task.labels,
                    "parameters": asdict(chosen), "selection": selection.to_json(), "golden_labels": golden_n,
                    "metrics": {"training": training}}
            (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2, default=str))
            predictions.write(conn, task=task.name, source="end_model", version=version, run_ref=str(run_id),
                              labels=task.labels, ids=everything["id"].tolist(), probs=probs)
            runs.set_model_path(conn, run_id, str(final))
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    result = TrainResult(run_id=run_id, task=task.name, version=version, model_path=str(final),
                         keras=str(final / Path(paths["keras"]).name),
                         saved_model=str(final / Path(paths["saved_model"]).name), architecture=chosen.architecture,
                         golden=golden_n, training=training, selection=selection.to_json(),
                         predictions=len(everything))
    tracking.log_train(task, result)
    return result, clf, pd.DataFrame(probs, index=everything["id"].to_numpy(), columns=task.labels)


def update_model_card(model_path: str | Path, **fields: Any) -> None:
    """Merge ``fields`` into a saved model's ``model_card.json`` (metrics after evaluation)."""
    path = Path(model_path) / MODEL_CARD
    card = json.loads(path.read_text())
    for key, value in fields.items():
        card[key] = {**card.get(key, {}), **value} if isinstance(value, dict) else value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2, default=str))
    tmp.replace(path)


def train_model(task_path: str | Path | None = None, version: int | None = None, *, engine: Engine | None = None,
                progress: bool = True, **overrides: Any) -> TrainResult:
    """Train the task's end model on ``version`` (default: latest); ``overrides`` patch ``[train]``."""
    task = load_task(task_path)
    engine = engine or get_engine()
    with engine.connect() as conn:
        version = versions.resolve(conn, version)
    result, _, _ = train(task, version, engine, train_params(task, **overrides), progress)
    return result


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, flush=True, file=sys.stderr)


def selection_lines(selection: dict[str, Any]) -> str:
    """Human lines of a :meth:`Selection.to_json` record: the choice, then each candidate, best first."""
    lines = [f"model selection: {selection['chosen']} ({selection['reason']})"]
    if selection.get("encoder"):
        lines.append(f"encoder: {selection['encoder']['name']} ({selection['encoder']['reason']})")
    for row in sorted(selection["candidates"], key=lambda r: -r["cv_macro_f1"]):
        lines.append(f"  stage {row['stage']}: {row['candidate']:<42} CV macro-F1 {row['cv_macro_f1']:.3f} "
                     f"(standard error {row['cv_se']:.3f})")
    return "\n".join(lines)


def _summary(r: TrainResult) -> str:
    t = r.training
    return (f"trained run {r.run_id} ({r.architecture}) on data-set v{r.version}: "
            f"{t['weak_used']} weak + {t['golden_train']} golden labels in {t['seconds']:.1f} s\n"
            f"{selection_lines(r.selection)}\n"
            f"model: {r.keras}\nTF Serving export: {r.saved_model}")


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/train.sh``: train the end model once."""
    p = cli.parser("bin/train.sh", "Train the end model on weak + golden labels and save it.", progress=True)
    add_task_arguments(p)
    p.add_argument("--architecture", choices=ARCHITECTURES, help="override [train] architecture")
    p.add_argument("--no-select", dest="select", action="store_false", default=None,
                   help="train with the task file's settings instead of choosing them by cross-validation")
    p.add_argument("--epochs", type=int, help="override [train] epochs")
    p.add_argument("--seed", type=int, help="override [train] seed")
    args = p.parse_args(argv)
    result = train_model(args.task, args.version, progress=not args.quiet, architecture=args.architecture,
                         epochs=args.epochs, seed=args.seed, select=args.select)
    cli.emit(result, args.json, _summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
