"""Task files: LF declarations are validated with errors naming the file and the LF."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from datasets.errors import GoldloopError
from labeling.task import TASKS_DIR, load_task

HEAD = 'name = "t"\nlabels = ["neg", "pos"]\n'


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "task.toml"
    path.write_text(HEAD + body)
    return path


def lf(**keys: object) -> str:
    lines = ["[[lfs]]"] + [f"{k} = {v!r}".replace("'", '"') if not isinstance(v, list) else
                           f"{k} = [{', '.join(repr(x).replace(chr(39), chr(34)) for x in v)}]"
                           for k, v in keys.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("task_file", sorted(TASKS_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_tasks_load(task_file: Path) -> None:
    task = load_task(task_file)
    kinds = {spec.kind for spec in task.lfs}
    assert len(task.lfs) >= 5 and "cluster" in kinds and {"keyword", "regex"} <= kinds
    assert len(set(task.lf_names)) == len(task.lf_names)
    assert task.label_model["epochs"] > 0


def test_parsed_spec_turns_labels_into_indices(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, lf(name="a", kind="keyword", label="pos", terms=["x y"], unless=["z"])
                           + lf(name="b", kind="regex", label="neg", patterns=["^RT"], flags=["i", "MULTILINE"])
                           + lf(name="c", kind="cluster", k=3, min_purity=0.5)
                           + lf(name="d", kind="python", ref="labeling.lfs.common:short_text_is_0")))
    a, b, c, d = task.lfs
    assert (a.label, a.terms, a.unless, a.field) == (1, ("x y",), ("z",), "text")
    assert b.label == 0 and b.flags == re.IGNORECASE | re.MULTILINE
    assert c.label is None and c.params["k"] == 3 and c.params["min_purity"] == 0.5 and c.params["min_support"] == 5
    assert d.ref == "labeling.lfs.common:short_text_is_0"
    assert task.lf_names == ["a", "b", "c", "d"]


@pytest.mark.parametrize("body, message", [
    (lf(name="a", kind="keyword", label="maybe", terms=["x"]), r"LF 'a': unknown label 'maybe'"),
    (lf(name="a", kind="regex", label="pos", patterns=["(unclosed"]), r"LF 'a': bad regular expression .*unclosed"),
    (lf(name="a", kind="keyword", label="pos", terms=["x"], field="body"), r"LF 'a': unknown field 'body'"),
    (lf(name="a", kind="keyword", label="pos", terms=["x"]) + lf(name="a", kind="keyword", label="neg", terms=["y"]),
     r"LF 'a': duplicate LF name"),
    (lf(name="a", kind="magic", label="pos"), r"LF 'a': unknown kind 'magic'"),
    (lf(name="a", kind="keyword", label="pos"), r"LF 'a': missing required key\(s\) \['terms'\]"),
    (lf(name="a", kind="keyword", terms=["x"]), r"LF 'a': missing required key\(s\) \['label'\]"),
    (lf(name="a", kind="keyword", label="pos", terms=["x"], patterns=["y"]),
     r"LF 'a' \(kind 'keyword'\): unknown key 'patterns'"),
    (lf(name="a", kind="regex", label="pos", patterns=["x"], flags=["WEIRD"]), r"LF 'a': unknown regex flag 'WEIRD'"),
    (lf(name="a", kind="keyword", label="pos", terms=[]), r"LF 'a': 'terms' must not be empty"),
    (lf(name="a", kind="cluster", min_purity=1.5), r"LF 'a': bad value for 'min_purity'"),
    (lf(name="a", kind="python", ref="no colon"), r"LF 'a': 'ref' must look like"),
    (lf(name="not valid", kind="keyword", label="pos", terms=["x"]), r"LF #1: 'name' must be"),
    ('[label_model]\nepochs = 0\n', r"\[label_model\]: 'epochs' must be a positive integer"),
    ('[label_model]\nclass_balance = [0.5, 0.6]\n', r"'class_balance' must list 2 probabilities"),
    ('[label_model]\nlearning = 1\n', r"\[label_model\]: unknown key 'learning'"),
    ('train = 3\n', r"\[train\] must be a table"),
])
def test_validation_errors_name_file_and_lf(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(GoldloopError, match=message) as info:
        load_task(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("body, message", [
    ('postive = "pos"\n', r"task.toml: unknown key 'postive' \(did you mean 'positive'\?\)"),
    ('[label_modle]\nseed = 1\n', r"task.toml: unknown table \[label_modle\] \(did you mean 'label_model'\?\)"),
    ('[model]\nepochs = 3\n', r"task.toml: unknown table \[model\]"),
    ('[loop]\nrounds = 3\n', r"task.toml: unknown table \[loop\]"),
    ('[tagger]\nannotations_per_itme = 2\n',
     r"task.toml \[tagger\]: unknown key 'annotations_per_itme' \(did you mean 'annotations_per_item'\?\)"),
    ('[tagger]\nannotations_per_item = 0\n', r"\[tagger\]: 'annotations_per_item' must be a positive integer"),
    ('[train]\nlerning_rate = 0.1\n', r"task.toml \[train\]: unknown key 'lerning_rate' \(did you mean 'learning_rate'"),
    ('[train]\narchitecture = "cnn"\n', r"task.toml \[train\] architecture: 'cnn' is not one of"),
    ('[active_learning]\nbatch_sise = 5\n', r"task.toml \[active_learning\]: unknown key 'batch_sise'"),
    ('[active_learning]\nstrategy = "x"\n', r"\[active_learning\] strategy: unknown strategy 'x'"),
    ('[active_learning]\nacquisition = "best"\n', r"\[active_learning\]: acquisition must be one of \['power', 'top'\]"),
    ('[active_learning]\nbeta = 0\n', r"\[active_learning\]: beta must be above 0"),
    (lf(name="a", kind="keyword", label="pos", terms=["x"], unles=["y"]),
     r"LF 'a' \(kind 'keyword'\): unknown key 'unles' \(did you mean 'unless'\?\)"),
    ('description = 3\n', r"task.toml: 'description' must be a string"),
])
def test_unknown_keys_and_tables_anywhere_are_errors_naming_file_and_key(tmp_path: Path, body: str,
                                                                        message: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(GoldloopError, match=message) as info:
        load_task(path)
    assert str(path) in str(info.value)


def test_every_known_table_loads(tmp_path: Path) -> None:
    task = load_task(write(tmp_path, 'description = "d"\npositive = "pos"\n[tagger]\nannotations_per_item = 2\n'
                                     '[train]\nlearning_rate = 0.1\n[active_learning]\nstrategy = "margin"\n'
                                     '[label_model]\nepochs = 5\n'))
    assert task.section("tagger") == {"annotations_per_item": 2} and task.section("train") == {"learning_rate": 0.1}
    assert task.label_model["epochs"] == 5 and task.lfs == ()
