"""The main job (``bin/pipeline.sh``): ingest -> split -> golden labels -> one loop iteration.

With no arguments it runs on the bundled demo corpus: the demo's gold labels stand in for the
golden test/dev sets people would build in the tagger (only test and dev items are imported,
so the training split stays unlabeled). On your own data, pass ``--input`` files, a ``--task``
file, and optionally a ``--gold`` file of existing test/dev labels.
"""
from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from datasets import cli, workspace
from datasets.demo import GOLD_PATH, TWEETS_PATH
from datasets.errors import GoldloopError
from datasets.ingest import IngestCounts, ingest_paths
from datasets.results import StepResult
from datasets.splits import create_version
from datasets.store import versions
from datasets.store.db import get_engine
from labeling.import_labels import ImportResult, import_labels
from labeling.task import add_task_argument, load_task
from models.loop import LoopIteration, run_iteration, summary

GOLDEN_SPLITS = ("test", "dev")


@dataclass(frozen=True, slots=True)
class PipelinePaths(StepResult):
    """Where to look after the main job: the workspace, the version's parquet exports, the model,
    the learning curve and the evaluation notebook that reads this workspace's runs."""

    workspace: Path
    exports: Path
    model: str
    learning_curve: str
    notebook: Path


@dataclass(frozen=True, slots=True)
class PipelineResult(StepResult):
    """The main job (the ``--json`` output of ``bin/pipeline.sh``): each step's result in order.

    ``version`` is the data-set version the loop ran on and ``new_version`` whether this run drew
    it (the latest is reused when no new post arrived); ``ingest`` holds the ingestion's counts,
    ``golden_import`` the import of the gold file's test/dev labels (None without a gold file or
    when none of its posts is in those splits) and ``loop`` the loop iteration.
    """

    task: str
    version: int
    new_version: bool
    ingest: IngestCounts
    golden_import: ImportResult | None
    loop: LoopIteration
    paths: PipelinePaths


def _version_for(engine: sa.engine.Engine, inserted: int, new_version: bool, sizes: dict[str, int],
                 seed: int, progress: bool) -> tuple[int, bool]:
    """Reuse the latest data-set version unless new posts arrived or a new one was asked for."""
    if not new_version and inserted == 0:
        with engine.connect() as conn:
            latest = versions.latest(conn)
        if latest is not None:
            return latest, False
    return create_version(engine, seed=seed, progress=progress, **sizes).version, True


def _golden_subset(engine: sa.engine.Engine, gold: Path, version: int, target: Path) -> int:
    """Write the rows of ``gold`` (id,label) whose posts are in the golden splits to ``target``."""
    with engine.connect() as conn:
        golden_ids = versions.member_ids(conn, version, GOLDEN_SPLITS)
    kept = 0
    with gold.open(newline="", encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        reader = csv.DictReader(src)
        if not reader.fieldnames or not {"id", "label"} <= set(reader.fieldnames):
            raise GoldloopError(f"{gold}: needs the columns id and label, found {reader.fieldnames}")
        writer = csv.DictWriter(dst, fieldnames=["id", "label"])
        writer.writeheader()
        for row in reader:
            if row["id"] in golden_ids:
                writer.writerow({"id": row["id"], "label": row["label"]})
                kept += 1
    return kept


def run(inputs: Sequence[Path], task_path: Path | None, gold: Path | None, sizes: dict[str, int], seed: int,
        new_version: bool, progress: bool = True) -> PipelineResult:
    """Run the main job and return a summary of every step."""
    task = load_task(task_path)
    engine = get_engine()
    ingested = ingest_paths(list(inputs), progress=progress)
    version, created = _version_for(engine, ingested.inserted, new_version, sizes, seed, progress)
    imported = None
    if gold is not None:
        with tempfile.TemporaryDirectory() as tmp:
            subset = Path(tmp) / f"{gold.stem}-golden.csv"
            if _golden_subset(engine, gold, version, subset):
                imported = import_labels(subset, task_path=task.path, id_column="id", label_column="label",
                                         annotator=f"import:{gold.name}", progress=progress)
    loop = run_iteration(task.path, version, progress=progress, engine=engine, tune_in_background=False)
    paths = PipelinePaths(workspace=workspace.home(), exports=workspace.version_dir(version), model=loop.model_path,
                          learning_curve=loop.learning_curve,
                          notebook=workspace.REPO_ROOT / "notebooks" / "evaluation.ipynb")
    return PipelineResult(task=task.name, version=version, new_version=created, ingest=ingested.counts(),
                          golden_import=imported, loop=loop, paths=paths)


def _human(result: PipelineResult) -> str:
    ing, imp = result.ingest, result.golden_import
    lines = [
        "",
        f"goldloop main job: task {result.task}, data-set version {result.version}"
        f" ({'new' if result.new_version else 'reused'})",
        f"  ingest: read {ing.read}, inserted {ing.inserted}, duplicates {ing.duplicates}, rejected {ing.rejected}",
    ]
    if imp is not None:
        lines.append(f"  golden labels imported for test/dev: {imp.imported} (already there: {imp.skipped})")
    lines.append(summary(result.loop))
    lines.append(f"exports: {result.paths.exports}\nworkspace: {result.paths.workspace}")
    lines.append(f"evaluation notebook: {result.paths.notebook} (reads this workspace's runs)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/pipeline.sh", __doc__.split("\n\n", 1)[1], progress=True)
    p.add_argument("--input", nargs="+", type=Path, help="posts to ingest (default: the demo corpus)")
    add_task_argument(p)
    p.add_argument("--gold", type=Path,
                   help="labels file (id,label) for the golden test/dev sets (default: the demo's, with the demo corpus)")
    p.add_argument("--test", type=int, default=200, help="test split size for a new version (default: %(default)s)")
    p.add_argument("--dev", type=int, default=100, help="dev split size (default: %(default)s)")
    p.add_argument("--lf", type=int, default=300, help="LF split size (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split draw (default: %(default)s)")
    p.add_argument("--new-version", action="store_true", help="always draw a new data-set version")
    args = p.parse_args(argv)
    gold = args.gold if args.gold or args.input else GOLD_PATH
    if gold is not None and not gold.is_file():
        raise GoldloopError(f"gold file not found: {gold}")
    result = run(args.input or [TWEETS_PATH], args.task, gold, {"test": args.test, "dev": args.dev, "lf": args.lf},
                 args.seed, args.new_version, progress=not args.quiet)
    cli.emit(result, args.json, _human)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
