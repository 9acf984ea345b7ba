"""One loop iteration end to end on a tiny world: real LFs + label model, real Keras model, real DB."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.loop import LoopIteration, run_iteration
from tests.support.results import check_json
from tests.support.world import LF_TOML, add_golden, make_world

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_two_iterations_table_plot_and_queues(engine, tmp_path: Path):
    world = make_world(engine, tmp_path, task_toml=LF_TOML)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    first = run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False)
    assert first.queues["active"]["cold_start"] is True
    assert first.queues["active"]["strategy"] == "margin"
    assert set(first.models) == {"end_model", "label_model", "majority_vote", "best_lf"}
    # the annotator answers the queue, then the next iteration uses those labels
    with engine.connect() as conn:
        asked = [r[0] for r in conn.execute(sa.text(
            "SELECT post_id FROM queue_items WHERE queue_id = :q ORDER BY rank LIMIT 5"),
            {"q": first.queues["active"]["queue_id"]})]
    add_golden(engine, world.task, world.truth[world.truth["id"].isin(asked)])
    proc = subprocess.run([str(REPO / "bin/loop.sh"), "--task", str(world.task.path), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    second = json.loads(proc.stdout)
    check_json(second, LoopIteration, "loop")
    assert [row["golden_train"] for row in second["iterations"]] == [0, 5]
    assert second["queues"]["active"]["cold_start"] is False
    assert second["iterations"][1]["end_model_macro_f1"] == second["models"]["end_model"]["macro_f1"]
    png = Path(second["learning_curve"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with engine.connect() as conn:
        kinds = [r[0] for r in conn.execute(sa.text("SELECT kind FROM runs ORDER BY id"))]
    assert kinds == ["train", "evaluate", "loop"] * 2
    human = subprocess.run([str(REPO / "bin/loop.sh"), "--help"], capture_output=True, text=True)
    assert human.returncode == 0 and "--strategy" in human.stdout
