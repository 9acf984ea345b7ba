"""The ``--json`` keys each command promises, and the check that its result dataclass prints them.

Where the docs name a command's keys, the set is copied from there (the file is named); for the
commands whose docs do not list them, it is the keys their tests and callers read.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from datasets.results import StepResult

PROMISED: dict[str, set[str]] = {
    # docs/ingest.md, "--json prints exactly one JSON object"
    "ingest": {"read", "inserted", "duplicates", "rejected", "rejects_file", "time_warnings", "time_warning_example",
               "batch_id", "files", "seconds", "rows_per_s"},
    # docs/datasets.md
    "split": {"version", "counts", "export_dir", "duplicates_dropped", "source_posts", "seed", "lang", "assigned"},
    # docs/tasks.md (bin/import_labels.sh), and the counts its summary prints
    "import_labels": {"task", "task_file", "task_default", "read", "imported", "skipped", "rejected", "rejects"},
    # docs/tasks.md (clusters, label_model_fallback, weak_targets, lf_golden) and labeling/label.py
    "label": {"run_id", "version", "clusters", "label_model_fallback", "weak_targets", "lf_golden", "label_model",
              "majority_vote", "lf_summary", "counts", "coverage", "golden", "outputs"},
    # the run that bin/evaluate.sh and the loop refer to, and the files of docs/loop.md
    "train": {"run_id", "model_path", "keras", "saved_model", "architecture", "selection", "golden", "training"},
    "evaluate": {"run_id", "train_run", "n_test", "models", "warning"},
    # docs/loop.md (label_model_fallback) and the iteration table it describes
    "loop": {"loop_run", "models", "n_test", "label_model_fallback", "warning", "queues", "iterations",
             "learning_curve", "model_path", "selection"},
    # docs/loop.md, bin/simulate.sh
    "simulate": {"run_id", "curves", "baselines", "n_test", "csv", "summary_csv", "png"},
    "pipeline": {"task", "version", "new_version", "ingest", "golden_import", "loop", "paths"},
    "export": {"task", "version", "format", "out_dir", "splits"},
}


def check_json(printed: dict[str, Any], result_class: type[StepResult], command: str) -> None:
    """``printed`` (a command's parsed ``--json`` output) has exactly the fields of
    ``result_class``, among them every key promised for ``command``."""
    fields = {field.name for field in dataclasses.fields(result_class)}
    assert set(printed) == fields, f"{command}: printed keys differ from {result_class.__name__}'s fields"
    assert PROMISED[command] <= fields, f"{command}: promised keys missing: {PROMISED[command] - fields}"
