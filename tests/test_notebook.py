"""notebooks/evaluation.ipynb runs headless (nbclient) against a test database with a tiny run."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from models.evaluate import evaluate
from models.train import train_model
from tests.support.world import add_golden, make_world

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "evaluation.ipynb"


@pytest.mark.slow
def test_evaluation_notebook_executes(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    world = make_world(engine, tmp_path)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    train_model(world.task.path, world.version, progress=False)
    evaluate(world.task.path, world.version)
    monkeypatch.setenv("GOLDLOOP_TASK", world.task.name)
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute(env=dict(os.environ))
    outputs = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"task {world.task.name}: 1 evaluations" in outputs
    assert f"{len(world.truth[world.truth['split'] == 'test'])} golden test posts with end-model predictions" in outputs
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # learning curve, confusion matrix, PR curve
    assert "errors of" in outputs
