"""Typed step results: ``to_json`` is the ``--json`` output, results are frozen, ``cli.emit`` prints them.

Each command's printed keys are checked against its result class where its test runs the command
(``tests.support.results.check_json``); these tests cover what all results share.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from datasets import cli, dbcli
from datasets.results import StepResult
from datasets.store import db
from tests.support.strict_json import strict_loads

# Every module whose command prints a result.
COMMAND_MODULES = ("datasets.ingest", "datasets.splits", "datasets.dbcli", "datasets.demo.generate",
                   "labeling.import_labels", "labeling.label", "models.train", "models.evaluate", "models.loop",
                   "models.simulate", "models.pipeline", "tagger_app.golden_export", "tagger_app.annotators_cli",
                   "tagger_app.serve")


def _result_classes() -> list[type[StepResult]]:
    """The result classes defined in :data:`COMMAND_MODULES` (by module attribute: ``slots=True``
    replaces the class, and the replaced one may linger in ``StepResult.__subclasses__()``)."""
    return [value for name in COMMAND_MODULES for value in vars(importlib.import_module(name)).values()
            if isinstance(value, type) and issubclass(value, StepResult) and value.__module__ == name]


@dataclasses.dataclass(frozen=True, slots=True)
class _Inner(StepResult):
    path: Path
    score: float


@dataclasses.dataclass(frozen=True, slots=True)
class _Outer(StepResult):
    name: str
    inner: _Inner
    parts: tuple[_Inner, ...]
    by_split: dict[str, _Inner]
    count: np.int64
    maybe: _Inner | None


def _outer() -> _Outer:
    inner = _Inner(Path("/tmp/a.parquet"), np.float32(0.5))
    return _Outer(name="x", inner=inner, parts=(inner, _Inner(Path("b"), float("nan"))), by_split={"test": inner},
                  count=np.int64(3), maybe=None)


def test_to_json_recurses_into_results_sequences_and_dicts() -> None:
    data = _outer().to_json()
    inner = {"path": "/tmp/a.parquet", "score": 0.5}
    assert data["inner"] == inner and data["by_split"] == {"test": inner} and data["maybe"] is None
    assert data["parts"][0] == inner and data["parts"][1]["path"] == "b" and math.isnan(data["parts"][1]["score"])
    assert type(data["count"]) is int and type(data["inner"]["score"]) is float and type(data["parts"]) is list
    json.dumps(data)  # plain data: no default= needed


def test_emit_prints_to_json_as_strict_json_or_the_human_text(capsys: pytest.CaptureFixture) -> None:
    result = _outer()
    cli.emit(result, True, lambda r: "unused")
    printed = strict_loads(capsys.readouterr().out)
    assert printed["parts"][1]["score"] is None  # NaN -> null, as every command prints it
    assert set(printed) == {field.name for field in dataclasses.fields(_Outer)}
    cli.emit(result, False, lambda r: f"{r.name}: {r.inner.path.name}")
    assert capsys.readouterr().out == "x: a.parquet\n"


@pytest.mark.parametrize("cls", _result_classes(), ids=lambda c: c.__name__)
def test_every_result_is_a_documented_frozen_dataclass(cls: type[StepResult]) -> None:
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen and "__slots__" in cls.__dict__
    assert cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(")  # its own docstring, not the generated one
    fields = dataclasses.fields(cls)
    result = cls(**{field.name: None for field in fields})
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, fields[0].name, 1)


def test_the_step_results_are_all_found() -> None:
    names = {cls.__name__ for cls in _result_classes()}
    assert names >= {"IngestResult", "SplitResult", "ImportResult", "LabelResult", "TrainResult", "EvaluationResult",
                     "LoopIteration", "SimulationResult", "PipelineResult", "ExportResult"}


def test_db_sh_json_is_its_result(home: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@localhost/x")
    assert dbcli.main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert set(status) == {field.name for field in dataclasses.fields(dbcli.ServerStatus)}
    assert status["backend"] == "external" and status["running"] is False
    assert dbcli.main(["url", "--json"]) == 0
    url = db.sqlalchemy_url("postgresql+psycopg://u@localhost/x")
    assert json.loads(capsys.readouterr().out) == {"url": url}
    assert dbcli.main(["url"]) == 0
    assert capsys.readouterr().out == url + "\n"
