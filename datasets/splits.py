"""``bin/split.sh``: create an immutable, versioned test / dev / LF / train split of ``raw_posts``.

A run reads the posts (optionally only some languages), drops copies on normalized text
(``datasets.normalize``), draws seeded random splits, and records a new ``dataset_versions``
row with its ``split_members`` in one transaction. Each split is exported to parquet
(``datasets.split_files``) in a temporary directory that becomes ``v<N>/`` only after the commit,
so a failure leaves neither rows nor files behind. See ``docs/datasets.md``.
"""
from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from datasets import cli, split_files, workspace
from datasets.errors import GoldloopError
from datasets.normalize import norm_hash
from datasets.results import StepResult
from datasets.store import db, posts, sql, versions
from datasets.store.versions import SPLITS

DRAWN_SPLITS: tuple[str, ...] = ("test", "dev", "lf")  # sized draws; train takes the rest
_MAX_SEED = 2**31 - 1  # dataset_versions.seed is a PostgreSQL integer


@dataclass(frozen=True, slots=True)
class AssignedSplit(StepResult):
    """A split formed from an ``--assign`` file: the file, its header (None for a bare list of
    ids), the ids it listed and how many were kept (fewer when some are copies of each other
    after normalization, which the summary points out)."""

    file: str
    header: str | None
    ids: int
    kept: int


@dataclass(frozen=True, slots=True)
class SplitResult(StepResult):
    """A new data-set version (the ``--json`` output of ``bin/split.sh``, docs/datasets.md).

    ``counts`` holds the posts per split (every split of ``SPLITS``); ``source_posts`` the
    candidates read and ``duplicates_dropped`` those dropped as copies, so the sizes can be
    traced back; ``seed`` and ``lang`` are the draw's parameters (``lang`` None: every
    language), ``assigned`` the splits given by ``--assign`` files; ``export_dir`` holds the
    parquet files of the splits.
    """

    version: int
    counts: dict[str, int]
    export_dir: str
    duplicates_dropped: int
    source_posts: int
    seed: int
    lang: tuple[str, ...] | None
    assigned: dict[str, AssignedSplit]


class IdFile(NamedTuple):
    """The post ids of an ``--assign`` file, with their line numbers, and its header if it has one."""

    ids: list[tuple[str, int]]
    header: str | None  # the name of the id column, or None when the file is a bare list of ids


def read_id_file(path: Path, is_post: Callable[[str], bool] = lambda _: False) -> IdFile:
    """Read the post ids of an ``--assign`` file: a CSV with a header row, or one id per line.

    The header is what exported id lists carry: ``id``, but just as often ``tweet_id`` or
    ``COMMENT_ID``. In a file of several columns the first row must be a header naming the id
    column: ``id``, else the one column whose name ends in ``id``. In a one-column file the
    first line is a header unless it is an id: a number (header names are not numbers) or,
    by ``is_post``, the id of a stored post. Every other line must hold an id; errors name the
    file and line.
    """
    if not path.is_file():
        raise GoldloopError(f"{path}: no such file")
    ids: list[tuple[str, int]] = []
    header: str | None = None
    column: int | None = None  # index of the id column once known
    width = 1  # cells per line: 1 for a bare list of ids
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            for row in reader:
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                if column is None:
                    column, width = _id_column(path, reader.line_num, cells), len(cells)
                    if width > 1 or cells[0].lower() == "id" or not _is_id(cells[0], is_post):
                        header = cells[column]
                        continue
                if width == 1 and len(cells) > 1:
                    raise GoldloopError(f"{path} line {reader.line_num}: expected one id per line, "
                                        f"found {len(cells)} columns")
                if column >= len(cells) or not cells[column]:
                    raise GoldloopError(f"{path} line {reader.line_num}: empty id")
                ids.append((cells[column], reader.line_num))
    except UnicodeDecodeError as exc:
        raise GoldloopError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise GoldloopError(f"{path} line {reader.line_num}: unreadable CSV ({exc})") from exc
    if not ids:
        raise GoldloopError(f"{path}: no ids" + (f" (only the header {header!r})" if header else ""))
    return IdFile(ids, header)


def _id_column(path: Path, line: int, cells: list[str]) -> int:
    """The index of the id column, from the first row of an id file (0 for a one-column file)."""
    if len(cells) == 1:
        return 0
    lowered = [cell.lower() for cell in cells]
    if "id" in lowered:
        return lowered.index("id")
    named = [i for i, cell in enumerate(lowered) if cell.endswith("id")]
    if len(named) != 1:
        raise GoldloopError(f"{path} line {line}: no 'id' column in the header {cells} (a file with several "
                            "columns needs a header naming its id column 'id' or '<something>id')")
    return named[0]


def _is_id(text: str, is_post: Callable[[str], bool]) -> bool:
    """Whether the first line of a one-column id file is an id rather than a header."""
    return text.isdigit() or is_post(text)


def _post_checker(engine: Engine) -> Callable[[str], bool]:
    """``is_post(id)``: whether ``raw_posts`` holds that id (one query per id file)."""
    def is_post(post_id: str) -> bool:
        with engine.connect() as conn:
            return posts.exists(conn, post_id)
    return is_post


def _assigned_frame(assign: dict[str, Path],
                    is_post: Callable[[str], bool]) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """One row per assigned id (id, split, file, line), and each split's header; an id in two splits is an error."""
    frames = []
    headers: dict[str, str | None] = {}
    for split, path in assign.items():
        if split not in DRAWN_SPLITS:
            raise GoldloopError(f"--assign {split}={path}: can assign {', '.join(DRAWN_SPLITS)} only "
                                "(train is always the rest)")
        id_file = read_id_file(Path(path), is_post)
        headers[split] = id_file.header
        rows = pd.DataFrame(id_file.ids, columns=["id", "line"])
        frames.append(rows.drop_duplicates("id").assign(split=split, file=str(path)))
    if not frames:
        return pd.DataFrame(columns=["id", "line", "split", "file"]), headers
    assigned = pd.concat(frames, ignore_index=True)
    twice = assigned[assigned.duplicated("id", keep=False)].sort_values(["id", "split"])
    if len(twice):
        first = twice.iloc[0]
        other = twice[(twice.id == first.id) & (twice.split != first.split)].iloc[0]
        raise GoldloopError(f"{other.file} line {other.line}: id {other.id!r} is also assigned to "
                            f"{first.split} ({first.file} line {first.line})")
    return assigned, headers


def _load_assigned(conn: Connection, assigned: pd.DataFrame) -> None:
    """Load the assigned ids for the candidates query; fail on ids missing from ``raw_posts``."""
    unknown = versions.load_assigned(conn, assigned[list(versions.ASSIGNED_COLUMNS)].itertuples(index=False))
    if unknown:
        raise GoldloopError(f"{unknown.file} line {unknown.line}: unknown post id {unknown.id!r} (not in raw_posts; "
                            f"{unknown.unknown_in_file} unknown id(s) in {unknown.file})")


def _read_posts(conn: Connection, lang: list[str] | None, progress: bool) -> pd.DataFrame:
    """The candidate posts' dedup keys: id, norm_hash, is_retweet, created_us, assigned split.

    Texts are hashed batch by batch and never held all at once, so memory stays small.
    """
    frames = []
    with tqdm(total=versions.candidate_count(conn, lang), desc="hashing posts", unit="post",
              disable=not progress) as bar:
        for rows in versions.candidates(conn, lang):
            ids, texts, retweets, created, splits = zip(*rows)
            frames.append(pd.DataFrame({
                "id": pd.array(ids, dtype="str"),
                "norm_hash": pd.array([norm_hash(t) for t in texts], dtype="str"),
                "is_retweet": np.array(retweets, dtype=bool),
                "created_us": pd.array(created, dtype="Int64"),
                "split": pd.array(splits, dtype="str"),
            }))
            bar.update(len(rows))
    if not frames:
        return pd.DataFrame({"id": [], "norm_hash": [], "is_retweet": [], "created_us": [], "split": []})
    return pd.concat(frames, ignore_index=True)


def _by_id(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``id_len`` so sorting by (id_len, id) puts numeric ids in numeric order."""
    return frame.assign(id_len=frame["id"].str.len())


def _dedup(posts: pd.DataFrame) -> pd.DataFrame:
    """Keep one post per normalized text: assigned first, then originals, earliest, smallest id."""
    posts = _by_id(posts).assign(unassigned=posts["split"].isna())
    assigned = posts[~posts["unassigned"]]
    clash = assigned.groupby("norm_hash")["split"].nunique()
    clash = clash[clash > 1]
    if len(clash):
        copies = assigned[assigned["norm_hash"] == clash.index[0]].sort_values("split")
        raise GoldloopError("assigned posts {} are copies of each other after normalization but are "
                            "assigned to different splits ({})".format(
                                " and ".join(repr(i) for i in copies["id"]), ", ".join(copies["split"])))
    ordered = posts.sort_values(["norm_hash", "unassigned", "is_retweet", "created_us", "id_len", "id"],
                                na_position="last", kind="stable")
    return ordered.drop_duplicates("norm_hash", keep="first").drop(columns="unassigned")


def _draw(kept: pd.DataFrame, sizes: dict[str, int], seed: int, describe: str) -> pd.DataFrame:
    """Fill the splits in ``sizes`` from a seeded permutation of the unassigned posts (by id order)."""
    pool = kept[kept["split"].isna()].sort_values(["id_len", "id"], kind="stable")
    need = sum(sizes.values())
    if len(pool) < need:
        asked = " + ".join(f"{s} {n}" for s, n in sizes.items())
        raise GoldloopError(f"not enough posts for the requested splits: need {asked} = {need} posts "
                            f"but only {len(pool)} are available ({describe}); lower --test/--dev/--lf "
                            "or ingest more posts")
    labels = np.full(len(pool), "train", dtype=object)
    order = np.random.default_rng(seed).permutation(len(pool))
    start = 0
    for split, n in sizes.items():
        labels[order[start:start + n]] = split
        start += n
    drawn = kept.copy()
    drawn.loc[pool.index, "split"] = labels
    return drawn


def _describe(posts: pd.DataFrame, kept: pd.DataFrame, lang: list[str] | None) -> str:
    """Human account of the pool: posts read, language filter, duplicates, assigned posts."""
    where = f" with lang in {','.join(lang)}" if lang else ""
    assigned = int(kept["split"].notna().sum())
    return (f"{len(posts)} posts{where}, {len(posts) - len(kept)} duplicates dropped"
            + (f", {assigned} assigned" if assigned else ""))


def _copy_members(conn: Connection, version: int, members: pd.DataFrame, progress: bool) -> None:
    """COPY the membership rows into ``split_members``."""
    rows = zip(repeat(version), members["id"], members["split"], members["norm_hash"])
    with tqdm(rows, total=len(members), desc="saving membership", unit="post", disable=not progress) as counted:
        versions.copy_members(conn, counted)


def _split_rows(conn: Connection, version: int, split: str, bar: tqdm) -> Iterator[Sequence[tuple]]:
    """Stream one split's export rows (``split_files.SCHEMA`` order) in batches."""
    for rows in versions.split_rows(conn, version, split, split_files.POST_COLUMNS):
        bar.update(len(rows))
        yield rows


def _export(conn: Connection, version: int, counts: dict[str, int], target: Path, progress: bool) -> None:
    """Write every split of ``version`` to ``target`` (a fresh directory)."""
    target.mkdir(parents=True)
    with tqdm(total=sum(counts.values()), desc="exporting parquet", unit="post", disable=not progress) as bar:
        for split in SPLITS:
            split_files.write_split(target / f"{split}.parquet", _split_rows(conn, version, split, bar))


def create_version(engine: Engine, *, test: int = 1000, dev: int = 500, lf: int = 10000, seed: int = 0,
                   lang: list[str] | None = None, assign: dict[str, Path] | None = None,
                   progress: bool = True) -> SplitResult:
    """Create a new immutable data-set version from ``raw_posts`` and export its splits to parquet.

    ``test``/``dev``/``lf`` posts are drawn at random (``seed``) after dropping copies on
    normalized text; train takes the rest. ``lang`` keeps only posts in those languages;
    ``assign`` maps a split to a file of ids that form exactly that split (its size argument
    is then ignored).
    """
    sizes = {"test": test, "dev": dev, "lf": lf}
    for name, value in sizes.items():
        if value < 0:
            raise GoldloopError(f"--{name} must be 0 or more, got {value}")
    if not 0 <= seed <= _MAX_SEED:
        raise GoldloopError(f"--seed must be between 0 and {_MAX_SEED}, got {seed}")
    lang = sorted({code.strip() for code in lang if code.strip()}) if lang else None
    assign_files = dict(assign or {})
    assigned, headers = _assigned_frame(assign_files, _post_checker(engine))
    tmp_dir: Path | None = None
    try:
        with sql.transaction(engine) as conn:
            _load_assigned(conn, assigned)
            candidates = _read_posts(conn, lang, progress)
            if candidates.empty:
                raise GoldloopError("no posts to split" + (f" with lang in {','.join(lang)}" if lang else "")
                                    + "; run bin/ingest.sh first")
            kept = _dedup(candidates)
            drawn = {split: n for split, n in sizes.items() if split not in assign_files}
            members = _draw(kept, drawn, seed, _describe(candidates, kept, lang))
            counts = {s: int((members["split"] == s).sum()) for s in SPLITS}
            version = versions.reserve(conn)
            final_dir = workspace.version_dir(version)
            if final_dir.exists():
                raise GoldloopError(f"{final_dir} already exists (left by another database?); move it away")
            params = {"test": test, "dev": dev, "lf": lf, "seed": seed, "lang": lang,
                      "assign": {s: str(p) for s, p in assign_files.items()}}
            versions.create(conn, version, seed, params, counts, str(final_dir))
            _copy_members(conn, version, members, progress)
            tmp_dir = workspace.datasets_dir() / f".v{version}.tmp-{os.getpid()}"
            _export(conn, version, counts, tmp_dir, progress)
    except BaseException:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    tmp_dir.rename(final_dir)
    assigned_kept = members[members["split"].notna() & members["id"].isin(assigned["id"])]
    return SplitResult(
        version=version, counts=counts, export_dir=str(final_dir), duplicates_dropped=len(candidates) - len(kept),
        source_posts=len(candidates), seed=seed, lang=None if lang is None else tuple(lang),
        assigned={s: AssignedSplit(file=str(p), header=headers[s], ids=int((assigned["split"] == s).sum()),
                                   kept=int((assigned_kept["split"] == s).sum())) for s, p in assign_files.items()})


def _parse_assign(values: Sequence[str]) -> dict[str, Path]:
    """``["test=ids.csv", ...]`` -> ``{"test": Path("ids.csv")}``."""
    assign: dict[str, Path] = {}
    for value in values:
        split, sep, file = value.partition("=")
        if not sep or not split or not file:
            raise GoldloopError(f"--assign {value}: expected SPLIT=FILE, for example test=ids.csv")
        if split in assign:
            raise GoldloopError(f"--assign: split {split!r} given twice")
        assign[split] = Path(file)
    return assign


def _summary(result: SplitResult) -> str:
    lines = [f"data-set version {result.version}: " + ", ".join(f"{s} {result.counts[s]}" for s in SPLITS),
             f"  from {result.source_posts} posts"
             + (f" (lang {','.join(result.lang)})" if result.lang else "")
             + f", {result.duplicates_dropped} duplicates dropped, seed {result.seed}"]
    for split, info in result.assigned.items():
        note = f" ({info.ids - info.kept} copies of other assigned ids dropped)" if info.kept < info.ids else ""
        header = f" (header {info.header!r})" if info.header else ""
        lines.append(f"  {split}: the {info.kept} ids of {info.file}{header}{note}")
    lines.append(f"  parquet: {result.export_dir}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bin/split.sh``."""
    p = cli.parser("bin/split.sh", "Create a new immutable data-set version: seeded random test / dev / LF / train\n"
                   "splits of the ingested posts, stored in PostgreSQL and exported to parquet.\n\n"
                   "Posts whose normalized texts are equal (RT prefix, URLs, case and whitespace ignored)\n"
                   "are copies: one is kept, so no text can appear in two splits. Same posts + same seed\n"
                   "= same membership. Exports go to $GOLDLOOP_HOME/datasets/v<N>/{test,dev,lf,train}.parquet.", progress=True)
    p.add_argument("--test", type=int, default=1000, metavar="N", help="test split size (default 1000)")
    p.add_argument("--dev", type=int, default=500, metavar="N", help="dev split size (default 500)")
    p.add_argument("--lf", type=int, default=10000, metavar="N",
                   help="labeling-function development split size (default 10000); train gets the rest")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed of the draw (default 0)")
    p.add_argument("--lang", metavar="CODES", help="only posts in these languages, comma-separated (e.g. en,fr); "
                   "assigned ids are kept whatever their language")
    p.add_argument("--assign", nargs="+", action="extend", default=[], metavar="SPLIT=FILE",
                   help="exactly the ids in FILE form SPLIT (test, dev or lf); FILE is one id per line, with "
                        "or without a header (any name, e.g. tweet_id), or a CSV whose header names the id "
                        "column ('id' or '...id'); that split's size flag is then ignored")
    args = p.parse_args(argv)
    result = create_version(db.get_engine(), test=args.test, dev=args.dev, lf=args.lf, seed=args.seed,
                            lang=args.lang.split(",") if args.lang else None,
                            assign=_parse_assign(args.assign), progress=not args.quiet)
    cli.emit(result, args.json, _summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
