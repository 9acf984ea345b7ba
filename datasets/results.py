"""Typed step results: what each step returns to its caller and what its command prints.

Every step (ingest, split, label, import, train, evaluate, a loop iteration, a simulation, the
main job) returns a frozen dataclass deriving from :class:`StepResult`, defined next to the step.
One object serves both readers: Python callers chain steps through typed attributes
(``trained.run_id``), which a type checker and a reader can follow and which no caller can
change behind the next one's back, and the command's ``--json`` output is ``to_json()`` of that
same object (``datasets.cli.emit``), so the field names are the documented JSON keys and the two
cannot drift apart.
"""
from __future__ import annotations

import dataclasses
from pathlib import PurePath
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """``value`` as plain JSON data: nested results by their ``to_json()``, tuples as lists,
    paths as text, NumPy scalars as Python numbers; dict keys are kept.

    Non-finite floats stay as they are: ``datasets.jsonout.dumps`` writes them as ``null``.
    """
    if isinstance(value, StepResult):
        return value.to_json()
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class StepResult:
    """Base of the result dataclasses: ``to_json()`` maps each field name to its JSON-ready value.

    Subclasses are ``@dataclass(frozen=True, slots=True)``: a result is a record of what a step
    did, so nothing downstream may edit it.
    """

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        """The result as one JSON object: field name -> value (see :func:`json_ready`)."""
        return {field.name: json_ready(getattr(self, field.name)) for field in dataclasses.fields(self)}
