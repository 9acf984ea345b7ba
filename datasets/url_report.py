"""``bin/urls.sh``: the links posts carry, most posted first, with how many posts the production
model put in each label, filtered by label, domain, time and kind, printed or exported.

The links come from the URL store (``urls``, ``post_urls``), which ingestion and the stream fill;
the counts per label come from the ``predictions`` of the task (source ``production`` by
default, the one ``bin/stream.sh`` and ``bin/classify.sh`` write). Nothing here reaches the
network: posts already hold their expanded links.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from datasets import cli, tables
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import db, predictions, urls
from datasets.urls import domain_of
from labeling.task import add_task_argument, load_task

COLUMNS = ("url", "domain", "is_media", "first_seen", "last_seen", "n_posts", "n_predicted", "labels")
_AGE = re.compile(r"^(\d{1,6})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DOMAIN = re.compile(r"^[a-z0-9.\-\[\]:_]{1,253}$")


@dataclass(frozen=True, slots=True)
class UrlReport(StepResult):
    """The ``--json`` output of ``bin/urls.sh``: the filters as applied and the links found
    (each with ``labels``, its post counts per predicted label); ``out`` is the export file."""

    task: str
    source: str
    label: str | None
    domain: str | None
    since: str | None
    top: int | None
    urls: list[dict[str, Any]]
    out: str | None


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """``--since``: an age (``30m``, ``12h``, ``7d``, ``2w``) or an ISO 8601 date or time (UTC
    unless it says otherwise)."""
    match = _AGE.match(value.strip())
    if match:
        return (now or datetime.now(timezone.utc)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise GoldloopError(f"--since {value!r}: expected an age such as 7d, 12h, 30m, 2w or an ISO date "
                            "such as 2024-05-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _human(r: UrlReport) -> str:
    if not r.urls:
        return "no links match"
    lines = [f"{'posts':>6} {'predicted':>9}  url  (labels by {r.source} predictions of {r.task})"]
    for row in r.urls:
        labels = ", ".join(f"{k} {v}" for k, v in sorted(row["labels"].items()))
        kind = " [media]" if row["is_media"] else ""
        lines.append(f"{row['n_posts']:>6} {row['n_predicted']:>9}  {row['url']}{kind}" + (f"  ({labels})" if labels else ""))
    if r.out:
        lines.append(f"written to {r.out}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/urls.sh", __doc__.split("\n\n", 1)[0].split(": ", 1)[1])
    add_task_argument(p)
    p.add_argument("--source", default="production", help="predictions counted per label (default: production)")
    p.add_argument("--label", help="only links with posts predicted LABEL, ranked by that count")
    p.add_argument("--domain", help="only this domain and its subdomains (www. ignored)")
    p.add_argument("--since", help="only links seen since then: an age (7d, 12h, 30m, 2w) or an ISO date")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--media", action="store_true", help="only media (photos, videos)")
    kind.add_argument("--links", action="store_true", help="only links, no media")
    p.add_argument("--top", type=int, default=20, help="how many links (default 20; 0 = all)")
    p.add_argument("--out", type=Path, help="also write every row to FILE (.parquet, .csv or .jsonl)")
    args = p.parse_args(argv)
    if args.top < 0:
        raise GoldloopError(f"--top must be 0 (all) or more, got {args.top}")
    if args.source not in predictions.SOURCES:
        raise GoldloopError(f"--source {args.source!r} is not one of {', '.join(predictions.SOURCES)}")
    task = load_task(args.task)
    if args.label is not None and args.label not in task.labels:
        raise GoldloopError(f"--label {args.label!r} is not a label of task {task.name} ({', '.join(task.labels)})")
    domain = urls_domain(args.domain) if args.domain is not None else None
    since = parse_since(args.since) if args.since else None
    if args.out:
        tables.format_of(args.out)
    with db.get_engine().connect() as conn:
        found = urls.report(conn, task=task.name, source=args.source, label=args.label, domain=domain, since=since,
                           media=True if args.media else False if args.links else None, top=args.top or None)
    rows = [{**row, "first_seen": row["first_seen"].isoformat(), "last_seen": row["last_seen"].isoformat()}
            for row in found]
    if args.out:
        tables.write(rows, args.out, COLUMNS)
    cli.emit(UrlReport(task=task.name, source=args.source, label=args.label, domain=domain,
                       since=since.isoformat() if since else None, top=args.top or None, urls=rows,
                       out=str(args.out) if args.out else None), args.json, _human)
    return cli.EXIT_OK


def urls_domain(value: str) -> str:
    """``--domain`` as stored (see :func:`datasets.urls.domain_of`); refused when it cannot be a host."""
    domain = domain_of(value)
    if not _DOMAIN.match(domain):
        raise GoldloopError(f"--domain {value!r}: not a host name (letters, digits, dots and hyphens)")
    return domain


if __name__ == "__main__":
    cli.run(main)
