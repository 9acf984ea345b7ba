"""The live dashboard's figures (HTTP-independent): what the production model does with today's
posts, gathered in one JSON-ready dict for both ``GET /live`` and ``GET /api/live``.

- ``series``: posts classified per bucket (minute over the last hour, hour over the last two
  days, day over the last 30 days; UTC) and label, by when the prediction was stored; every
  bucket of the span is listed, empty ones with zeros, so a chart's x axis is continuous;
- ``latest``: the newest posts per label with their links;
- ``top_urls`` / ``top_domains``: the links and domains most posted per label over ``window``;
- ``production``: the production run, the event that put it there and its golden test figures;
- ``monitor``: the newest checks of ``bin/monitor.sh`` (figures, tripped thresholds, decisions).

``stamp`` changes whenever anything shown changes (a new prediction, check or promotion): the
page's script swaps its content only then.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Connection

from datasets.store import live, monitor, registry
from datasets.timestamps import parse_age
from labeling.task import Task
from models.figures import run_metrics

#: Each bucket's span: how many buckets the chart shows.
SPANS = {"minute": 60, "hour": 48, "day": 30}
WINDOWS = ("1h", "6h", "24h", "7d", "30d")
LATEST = 5
TOP = 5
CHECKS = 10


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def series(conn: Connection, task: Task, bucket: str, now: datetime) -> list[dict[str, Any]]:
    """Every bucket of the span ending now, oldest first: ``at`` and ``counts`` per label."""
    step = timedelta(**{f"{bucket}s": 1})
    span = SPANS[bucket]
    first = _truncate(now, bucket) - (span - 1) * step
    counts: dict[datetime, dict[str, int]] = {}
    for row in live.per_bucket(conn, task.name, bucket, first):
        counts.setdefault(row["at"].astimezone(timezone.utc), {})[row["label"]] = row["n"]
    out = []
    for i in range(span):
        at = first + i * step
        found = counts.get(at, {})
        out.append({"at": at.isoformat(), "counts": {label: found.get(label, 0) for label in task.labels}})
    return out


def _truncate(moment: datetime, bucket: str) -> datetime:
    """``moment`` (UTC) cut down to the start of its bucket, as PostgreSQL's ``date_trunc``."""
    moment = moment.astimezone(timezone.utc).replace(second=0, microsecond=0)
    if bucket in ("hour", "day"):
        moment = moment.replace(minute=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def _grouped(rows: list[dict[str, Any]], labels: list[str], **renames: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    for row in rows:
        if row["label"] in out:
            out[row["label"]].append({renames.get(k, k): _iso(v) if isinstance(v, datetime) else v
                                      for k, v in row.items() if k != "label"})
    return out


def production(conn: Connection, task: Task) -> dict[str, Any] | None:
    """The production run, the event that set it and its golden test figures (None before the first)."""
    event = registry.latest_event(conn, task.name)
    if event is None:
        return None
    return {"run_id": event.run_id, "event_id": event.id, "action": event.action, "actor": event.actor,
            "reason": event.reason, "forced": event.forced, "since": _iso(event.created_at),
            "metrics": run_metrics(conn, task.name, event.run_id)}


def check_row(check: dict[str, Any]) -> dict[str, Any]:
    """One ``monitor_checks`` row as the page lists it."""
    return {"id": check["id"], "checked_at": _iso(check["checked_at"]), "window_start": _iso(check["window_start"]),
            "production_run": check["production_run"], "decision": check["decision"], "tripped": check["tripped"],
            "new_run": check["new_run"], "metrics": check["metrics"], "detail": check["detail"]}


def collect(conn: Connection, task: Task, bucket: str, window: str) -> dict[str, Any]:
    """Every section of the live dashboard (see the module docstring)."""
    now = monitor.now(conn)
    since = now - parse_age(window)  # type: ignore[operator]  # a WINDOWS value, checked by the input model
    checks = [check_row(c) for c in monitor.recent(conn, task.name, CHECKS)]
    newest = live.newest(conn, task.name)
    prod = production(conn, task)
    links = live.top_links(conn, task.name, since, TOP)
    return {
        "task": task.name, "labels": task.labels, "bucket": bucket, "window": window, "now": _iso(now),
        "since": _iso(since), "newest": _iso(newest),
        "stamp": f"{_iso(newest)}|{checks[0]['id'] if checks else 0}|{prod['event_id'] if prod else 0}",
        "series": series(conn, task, bucket, now),
        "latest": _grouped(live.latest(conn, task.name, task.labels, LATEST), task.labels),
        "top_urls": _grouped(links["url"], task.labels, key="url"),
        "top_domains": _grouped(links["domain"], task.labels, key="domain"),
        "production": prod,
        "monitor": checks,
    }
