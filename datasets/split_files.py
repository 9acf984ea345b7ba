"""Parquet exports of data-set splits: the documented schema, writing and reading.

Each version's splits live in ``$GOLDLOOP_HOME/datasets/v<N>/{test,dev,lf,train}.parquet``
with the schema ``SCHEMA`` (documented in ``docs/datasets.md``). Rows are ordered by post id
(numeric order for tweet ids).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datasets import workspace
from datasets.errors import GoldloopError
from datasets.store.versions import SPLITS

_TEXT_LIST = pa.list_(pa.string())
SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("text", pa.string(), nullable=False),
    pa.field("created_at", pa.timestamp("us", tz="UTC")),
    pa.field("lang", pa.string()),
    pa.field("author", pa.string()),
    pa.field("source_app", pa.string()),
    pa.field("is_retweet", pa.bool_(), nullable=False),
    pa.field("retweeted_id", pa.string()),
    pa.field("hashtags", _TEXT_LIST, nullable=False),
    pa.field("mentions", _TEXT_LIST, nullable=False),
    pa.field("urls", _TEXT_LIST, nullable=False),
    pa.field("media_urls", _TEXT_LIST, nullable=False),
    pa.field("norm_hash", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("version", pa.int32(), nullable=False),
])

# The raw_posts columns exported, in schema order (norm_hash/split/version come from split_members).
POST_COLUMNS: tuple[str, ...] = tuple(SCHEMA.names[:12])


def split_path(version: int, split: str) -> Path:
    """Path of one split's parquet export: ``workspace.version_dir(version) / f"{split}.parquet"``."""
    if split not in SPLITS:
        raise GoldloopError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return workspace.version_dir(version) / f"{split}.parquet"


def read_split(version: int, split: str) -> pd.DataFrame:
    """Read one split of a data-set version as a DataFrame (columns as in ``SCHEMA``)."""
    path = split_path(version, split)
    if not path.exists():
        raise GoldloopError(f"{path}: no export of split {split!r} for data-set version {version}")
    return pq.read_table(path, schema=SCHEMA).to_pandas()


def write_split(path: Path, batches: Iterable[Sequence[tuple]]) -> int:
    """Write rows (tuples in ``SCHEMA`` order), arriving in batches, to a parquet file.

    Memory stays bounded by one batch. Returns the number of rows written; an empty split
    still gets a file with the full schema.
    """
    rows = 0
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        for batch in batches:
            if not batch:
                continue
            columns = list(zip(*batch))
            writer.write_table(pa.Table.from_arrays(
                [pa.array(col, type=field.type) for col, field in zip(columns, SCHEMA)], schema=SCHEMA))
            rows += len(batch)
        if rows == 0:
            writer.write_table(SCHEMA.empty_table())
    return rows
