"""What clients may send: pydantic models of every query string and JSON body the tagger reads.

Validation happens once, at the edge: a bad value becomes ``BadRequest`` naming the field (JSON
400 from the API, an error page elsewhere), so nothing unchecked reaches SQL. NUL characters, which
PostgreSQL cannot store in text, are refused in every argument, form field and JSON string by
``refuse_nul`` before any view runs.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from datasets.store.queues import PREDICTION_SOURCES, QUEUE_KINDS
from datasets.store.versions import SPLITS

MAX_DURATION_MS = 24 * 3600 * 1000
MAX_PAGE = 1_000_000

PostId = Annotated[str, Field(min_length=1, max_length=200)]
VersionNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]  # a data-set version: PostgreSQL integer


class BadRequest(ValueError):
    """The client sent something invalid; the message says what, ``field`` names it."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(BadRequest):
    """A valid request the current state refuses (an item leased to someone else, a label at its cap...)."""

    status = 409


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class QueueRequest(_Input):
    """Which queue a client works on: ``queue`` (kind) plus its ``split`` or prediction ``source``."""

    kind: Literal[QUEUE_KINDS] = Field("split", alias="queue")
    split: Literal[SPLITS] | None = None
    source: Literal[PREDICTION_SOURCES] | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_queue_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("queue", "split") == "split" and not data.get("split"):
            return {**data, "split": "test"}
        return data

    def as_dict(self) -> dict[str, Any]:
        """JSON form, echoed to clients and stored in each label's ``meta``."""
        return {k: v for k, v in (("queue", self.kind), ("split", self.split), ("source", self.source)) if v}


class NextArgs(QueueRequest):
    """``GET /api/next``."""

    n: int = Field(1, ge=1, le=20)
    exclude: str = Field("", max_length=8000)  # 200 ids; well under the 64 KiB request line
    cursor: str | None = Field(None, max_length=200)
    hints: bool = False
    progress: bool = False

    def excluded(self) -> list[str]:
        """The post ids the client already holds."""
        return [x for x in self.exclude.split(",") if x][:200]


class Answer(QueueRequest):
    """``POST /api/submit`` (and the table's relabel form)."""

    post_id: PostId
    action: Literal["label", "skip"] = "label"
    label: str | None = Field(None, max_length=200)
    answer: Literal["accept", "reject"] | None = None
    view: Literal["label", "table"] = "label"
    duration_ms: float | None = Field(None, ge=0, allow_inf_nan=False)

    def duration(self) -> int | None:
        """Time on screen in whole milliseconds, at most a day (a tab left open)."""
        return None if self.duration_ms is None else min(int(self.duration_ms), MAX_DURATION_MS)


class UndoRequest(_Input):
    """``POST /api/undo``: optionally the post whose answer to withdraw (body), ``?hints=1``."""

    post_id: PostId | None = None
    hints: bool = False


class ExportArgs(_Input):
    """``GET /api/export``."""

    split: Literal[SPLITS] | None = None
    version: VersionNumber | None = None
    format: Literal["json", "jsonl", "csv"] = "json"
    conflicts: bool = False


class DashboardArgs(_Input):
    """``GET /dashboard`` and ``GET /api/dashboard``: the data-set version (default: the tagger's)."""

    version: VersionNumber | None = None


class LiveArgs(_Input):
    """``GET /live``, ``GET /live/panel`` and ``GET /api/live``: the chart's time ``bucket`` and
    the ``window`` of the top links (tagger_app.live)."""

    bucket: Literal["minute", "hour", "day"] = "minute"
    window: Literal["1h", "6h", "24h", "7d", "30d"] = "24h"


class PageArgs(_Input):
    """``?page=`` of the paged views."""

    page: int = Field(1, ge=1, le=MAX_PAGE)


class Resolution(_Input):
    """``POST /conflicts/resolve``: a label for an item in conflict, or an override with a reason."""

    post_id: PostId
    label: str = Field(max_length=200)
    override: bool = False
    reason: str = Field("", max_length=500)


class ResolutionUndo(_Input):
    """``POST /conflicts/undo``."""

    resolution_id: int = Field(ge=1, le=2**63 - 1)


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], values: Mapping[str, Any] | None) -> Model:
    """``values`` (query arguments, form fields or a JSON object; empty strings count as absent)
    as ``model``, or ``BadRequest`` naming the first bad field."""
    if not isinstance(values, Mapping):
        raise BadRequest("send a JSON object with Content-Type: application/json")
    present = {k: v for k, v in values.items() if v != ""}
    try:
        return model.model_validate(present)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise BadRequest(f"{field}: {error['msg']}" if field else error["msg"], field) from None


def refuse_nul(fields: Iterable[tuple[str, Any]]) -> None:
    """``BadRequest`` naming the first of ``fields`` (name, value: a string or parsed JSON) that
    holds a NUL character anywhere, keys included."""
    for name, value in fields:
        _refuse_nul(name, name)
        _refuse_nul(value, name)


def _refuse_nul(value: Any, where: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise BadRequest(f"{where or 'body'}: NUL characters are not allowed", where or None)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_nul(key, where)
            _refuse_nul(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_nul(item, f"{where}[{i}]")
