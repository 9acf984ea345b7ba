"""The README's main command, end to end on the demo corpus, against the real embedded PostgreSQL."""
from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from datasets.ingest import IngestCounts
from datasets.workspace import REPO_ROOT
from labeling.import_labels import ImportResult
from models.loop import LoopIteration
from models.pipeline import PipelinePaths, PipelineResult
from tests.support.results import check_json

pytestmark = pytest.mark.slow


def _pipeline(*args: str) -> dict:
    done = subprocess.run([str(REPO_ROOT / "bin" / "pipeline.sh"), "--json", "--quiet", *args],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_pipeline_runs_the_whole_loop_and_reruns_idempotently(engine: sa.engine.Engine, home: Path) -> None:
    first = _pipeline()
    check_json(first, PipelineResult, "pipeline")
    for key, part in (("ingest", IngestCounts), ("golden_import", ImportResult), ("loop", LoopIteration),
                      ("paths", PipelinePaths)):
        assert set(first[key]) == {field.name for field in dataclasses.fields(part)}, key
    assert first["ingest"]["read"] == first["ingest"]["inserted"] >= 1000
    assert first["ingest"]["rejected"] == 0
    assert first["new_version"] is True
    exports = Path(first["paths"]["exports"])
    assert {p.name for p in exports.glob("*.parquet")} == {"test.parquet", "dev.parquet", "lf.parquet", "train.parquet"}
    assert (exports / "ai_tweets" / "train_weak.parquet").is_file()
    # Only test and dev items get golden labels: the training split stays unlabeled.
    with engine.connect() as conn:
        golden_splits = conn.execute(sa.text(
            "SELECT DISTINCT m.split FROM golden_labels g JOIN split_members m"
            " ON m.post_id = g.post_id AND m.version = :v"), {"v": first["version"]}).scalars().all()
        runs = conn.execute(sa.text("SELECT count(*) FROM runs WHERE kind = 'loop'")).scalar_one()
    assert sorted(golden_splits) == ["dev", "test"]
    assert first["golden_import"]["imported"] == 300
    assert runs == 1
    models = first["loop"]["models"]
    assert set(models) >= {"end_model", "label_model", "majority_vote", "best_lf"}
    # The end model must beat the best single labeling function on held-out golden labels.
    assert models["end_model"]["macro_f1"] > models["best_lf"]["macro_f1"]
    assert models["end_model"]["macro_f1"] > 0.8
    model_dir = Path(first["paths"]["model"])
    assert (model_dir / "model_card.json").is_file()
    assert list(model_dir.glob("*.keras"))
    assert Path(first["paths"]["learning_curve"]).stat().st_size > 0

    second = _pipeline()
    assert second["ingest"]["inserted"] == 0
    assert second["new_version"] is False and second["version"] == first["version"]
    assert second["golden_import"]["imported"] == 0
    assert len(second["loop"]["iterations"]) == 2
