"""Strict JSON out of every command: NaN and infinities become null, never the non-JSON ``NaN`` tokens."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from datasets import cli, jsonout, records
from datasets.results import StepResult
from tests.support.strict_json import strict_loads


def test_dumps_replaces_non_finite_values_everywhere() -> None:
    value = {"nan": float("nan"), "inf": math.inf, "ninf": -math.inf, "ok": 0.5, "np64": np.float64("nan"),
             "np32": np.float32("inf"), "npint": np.int64(3), "array": np.array([1.0, np.nan]),
             "nested": [{"deep": (float("nan"), 1)}], "text": "NaN"}
    assert strict_loads(jsonout.dumps(value, sort_keys=True)) == {
        "nan": None, "inf": None, "ninf": None, "ok": 0.5, "np64": None, "np32": None, "npint": 3,
        "array": [1.0, None], "nested": [{"deep": [None, 1]}], "text": "NaN"}


def test_dumps_keeps_finite_output_and_options_unchanged() -> None:
    value = {"b": [1, 2.5, "é"], "a": None}
    assert jsonout.dumps(value, sort_keys=True, ensure_ascii=False) == json.dumps(value, sort_keys=True,
                                                                                 ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class _Table(StepResult):
    iterations: tuple[dict, ...]


def test_a_pandas_table_with_missing_metrics_prints_as_null(capsys: pytest.CaptureFixture) -> None:
    """What bin/loop.sh prints: an iteration table whose undefined macro-F1 pandas holds as NaN."""
    table = pd.DataFrame([{"iteration": 1, "end_model_macro_f1": None}, {"iteration": 2, "end_model_macro_f1": 0.8}])
    cli.emit(_Table(tuple(table.to_dict("records"))), True, str)
    assert strict_loads(capsys.readouterr().out) == {
        "iterations": [{"iteration": 1, "end_model_macro_f1": None}, {"iteration": 2, "end_model_macro_f1": 0.8}]}


def test_raw_records_keep_using_the_same_rule() -> None:
    post = next(records.posts({"id": "1", "text": "x", "score": float("inf")}, None, records.Columns()))
    assert strict_loads(post.raw) == {"id": "1", "text": "x", "score": None}
