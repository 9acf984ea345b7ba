"""What clients may send to the predict API: the ``POST /v1/predict`` body as a pydantic model.

Exactly one of ``texts`` (plain strings) or ``posts`` (objects with ``id`` and ``text``) per
request. The limits are the server's (``Limits``, set by ``bin/serve.sh`` options): too many
texts is 413 (the request is too large to take), a text longer than allowed or any other bad
value 422, each naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_MAX_TEXTS = 1000
DEFAULT_MAX_TEXT_CHARS = 5000
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


class InputError(ValueError):
    """The client sent something the API refuses: ``status`` (4xx) and the ``field`` it names."""

    def __init__(self, message: str, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Per-request limits: texts per request, characters per text, bytes per body."""

    max_texts: int = DEFAULT_MAX_TEXTS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


class Post(BaseModel):
    """One post to classify; ``id`` is echoed back, never looked up."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: Annotated[str, Field(min_length=1, max_length=200)]
    text: str


class PredictRequest(BaseModel):
    """``{"texts": [...]}`` or ``{"posts": [{"id": ..., "text": ...}]}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    texts: list[str] | None = None
    posts: list[Post] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> PredictRequest:
        if (self.texts is None) == (self.posts is None):
            raise ValueError("send exactly one of 'texts' (a list of strings) or 'posts' (a list of {id, text})")
        return self

    def items(self) -> tuple[list[str | None], list[str]]:
        """Ids (None for plain texts) and texts, in request order."""
        if self.posts is not None:
            return [p.id for p in self.posts], [p.text for p in self.posts]
        return [None] * len(self.texts or []), list(self.texts or [])


def parse_predict(body: Any, limits: Limits) -> PredictRequest:
    """``body`` (parsed JSON) as a checked request, or ``InputError`` naming the first bad field."""
    if not isinstance(body, dict):
        raise InputError("send a JSON object with Content-Type: application/json", status=400)
    for key in ("texts", "posts"):  # counted before validating every element of a huge list
        if isinstance(body.get(key), list) and len(body[key]) > limits.max_texts:
            raise InputError(f"{key}: {len(body[key])} items; at most {limits.max_texts} per request", key, 413)
    try:
        request = PredictRequest.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise InputError(f"{field}: {error['msg']}" if field else error["msg"], field) from None
    ids, texts = request.items()
    for i, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            field = f"posts.{i}.text" if ids[i] is not None else f"texts.{i}"
            raise InputError(f"{field}: {len(text)} characters; at most {limits.max_text_chars} per text", field)
    return request
