"""A trained run's golden test figures as the registry, the predict API and the live dashboard
show them. Kept apart from ``models.production`` (which loads TensorFlow) so the web tagger
can read them without importing a model runtime."""
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from datasets.store import registry, runs


def run_metrics(conn: Connection, task: str, run_id: int) -> dict[str, Any]:
    """Golden test metrics of train run ``run_id``: from the newest promotion that compared it,
    else from its newest evaluation, else empty."""
    for event in reversed(registry.events(conn, task)):
        scored = event.comparison.get("candidate") if event.action == "promote" else None
        if event.run_id == run_id and scored:
            return scored
    evaluation = runs.latest_child(conn, run_id, "evaluate")
    end = evaluation["metrics"].get("models", {}).get("end_model") if evaluation else None
    return golden_summary(end) if end else {}


def golden_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures of ``classification_metrics`` a registry event and ``GET /v1/model`` show."""
    keys = ("n", "accuracy", "accuracy_ci95", "macro_f1", "pr_auc", "roc_auc")
    return {k: metrics[k] for k in keys if k in metrics}
