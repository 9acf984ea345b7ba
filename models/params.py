"""Step settings read from the task file: ``[train]`` and ``[active_learning]`` tables.

Every field has a default here; a task file overrides any of them, and command-line flags
override the task file. Unknown keys and wrong types are errors that name the file and field.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from datasets.errors import GoldloopError
from labeling.keys import check_keys
from models.encoder import DEFAULT_ENCODER, ENCODERS

if TYPE_CHECKING:  # labeling.task checks these tables when it loads a task file, so it imports this module
    from labeling.task import Task

LINEAR_ARCHITECTURES = ("tfidf", "encoder", "tfidf+encoder")
ARCHITECTURES = (*LINEAR_ARCHITECTURES, "bilstm")
# How weak supervision enters a model: not at all, as LF-vote input features, as weak targets, or
# all of these at once, averaged (models.selection).
WEAK_MODES = ("golden_only", "lf_features", "weak", "ensemble")
STRATEGIES = ("entropy", "margin", "lf_conflict", "disagreement", "diverse", "random")
STRATEGY_ALIASES = {"uncertainty": "entropy"}
ACQUISITIONS = ("power", "top")


@dataclass(frozen=True)
class TrainParams:
    """Classifier hyper-parameters (``[train]``)."""

    # "tfidf": word n-gram TF-IDF, "encoder": sentence embeddings, "tfidf+encoder": both, each -> softmax
    # fitted exactly (L-BFGS); "bilstm": Embedding + BiLSTM trained by Keras
    architecture: str = "tfidf+encoder"
    encoder: str = DEFAULT_ENCODER    # sentence encoder of the "encoder" block (models.encoder.ENCODERS)
    lf_features: bool = False         # LF votes (one-hot) as extra input features
    use_weak: bool = True             # train on weak labels too (False: golden labels only)
    # One softmax head per single use of the LFs (golden labels alone, LF votes as features, weak
    # targets at each of select_golden_weights), their logits averaged into one head
    # (models.selection.ensemble_members)
    ensemble: bool = False
    max_tokens: int = 20000           # vocabulary size of the TextVectorization layer
    ngrams: int = 2                   # word n-grams of the tfidf block
    sequence_length: int = 64         # tokens per post for the bilstm architecture
    embedding_dim: int = 64
    lstm_units: int = 64
    dropout: float = 0.3              # bilstm only
    l2: float = 0.001                 # L2 penalty on the softmax weights (per unit of mean weighted loss)
    epochs: int = 10                  # bilstm only
    batch_size: int = 64              # bilstm only
    max_steps_per_epoch: int = 200    # bilstm: large data sets get bigger batches: batch = max(batch_size, n / this)
    learning_rate: float = 0.01       # bilstm only
    patience: int = 3                 # bilstm: early stopping on golden dev loss (when golden dev exists)
    class_weight: str = "balanced"    # "none" or "balanced" (inverse class frequency; macro-F1 is the score)
    golden_weight: float = 10.0       # sample weight of a golden label relative to a weak one
    target_temperature: float = 1.0   # soft targets = label-model probs ** (1 / T), renormalised; < 1 sharpens
    weak_splits: list[str] = field(default_factory=lambda: ["lf", "train"])
    seed: int = 0
    # Model selection (models.selection): cross-validation over golden labels picks the
    # architecture, how weak labels are used and the L2 penalty among these candidates.
    select: bool = True
    # TF-IDF alone is not a default candidate: CV over the pool cannot see a shift between the pool
    # and new posts, and a model that knows only the pool's words is the one such a shift hurts
    # most (YouTube, videos 01-04 -> 05: 0.75-0.80 accuracy where it won the CV, 0.93 with both).
    select_architectures: list[str] = field(default_factory=lambda: ["tfidf+encoder", "encoder"])
    select_golden_weights: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0])
    select_l2: list[float] = field(default_factory=lambda: [0.001, 0.0001])
    select_folds: int = 5
    select_weak_modes: list[str] = field(default_factory=lambda: list(WEAK_MODES))
    select_weak_rows: int = 1000      # weak rows per CV fit (a weighted sample: the same total weight)
    # Fewer golden labels than select_min_golden (or than select_min_per_class in some class): no
    # selection, the task file's settings are used. Below ~100 labels the CV scores' standard error
    # (0.03-0.06) exceeded the gaps between candidates and the choice flipped from round to round.
    select_min_golden: int = 100
    select_min_per_class: int = 5
    # Fine-tune the encoder on the golden labels (models.finetune): first at fine_tune_min_golden
    # labels, again whenever they have grown fine_tune_growth-fold; in between the last tuned
    # encoder (and its cached embeddings) is reused.
    fine_tune: bool = True
    fine_tune_min_golden: int = 100
    fine_tune_growth: float = 2.0
    fine_tune_pairs_per_label: int = 6


@dataclass(frozen=True)
class ActiveParams:
    """Active-learning settings (``[active_learning]``)."""

    strategy: str = "entropy"
    acquisition: str = "power"         # "power": draw in proportion to score ** beta; "top": best scores first
    beta: float = 1.0                  # the exponent of "power" (larger: closer to "top")
    batch_size: int = 50
    queue_size: int = 200              # items written to the queue (the batch is its head)
    pool_splits: list[str] = field(default_factory=lambda: ["lf", "train"])
    candidates_per_cluster: int = 10   # "diverse": candidate pool = batch_size * this, clustered
    duplicate_similarity: float = 0.9  # a batch skips posts this cosine-similar to one already in it (> 1: off)
    review_threshold: int = 2          # fewest golden labels per class before label review runs
    seed: int = 0


P = TypeVar("P", TrainParams, ActiveParams)


def _coerce(cls: type[P], values: dict[str, Any], where: str) -> P:
    """Build ``cls`` from ``values``, checking every key and type against the defaults."""
    defaults = cls()
    values = {key: value for key, value in values.items() if value is not None}
    check_keys(where, values, {f.name for f in dataclasses.fields(cls)})
    clean: dict[str, Any] = {}
    for key, value in values.items():
        expected = getattr(defaults, key)
        if isinstance(expected, bool) != isinstance(value, bool) or not isinstance(value, type(expected)):
            if isinstance(expected, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif isinstance(expected, list) and isinstance(value, (list, tuple)):
                value = list(value)
            else:
                raise GoldloopError(f"{where}: {key} must be {type(expected).__name__}, got {value!r}")
        clean[key] = value
    return dataclasses.replace(defaults, **clean)


def train_params(task: Task, **overrides: Any) -> TrainParams:
    """The task's ``[train]`` settings with ``overrides`` (None values ignored) applied."""
    params = _coerce(TrainParams, {**task.section("train")}, f"{task.path} [train]")
    params = _coerce(TrainParams, {**dataclasses.asdict(params), **overrides}, "train options")
    if params.architecture not in ARCHITECTURES:
        raise GoldloopError(f"{task.path} [train] architecture: {params.architecture!r} is not one of {ARCHITECTURES}")
    if params.ensemble and params.architecture not in LINEAR_ARCHITECTURES:
        raise GoldloopError(f"{task.path} [train] ensemble: needs a linear architecture {LINEAR_ARCHITECTURES}")
    if params.target_temperature <= 0:
        raise GoldloopError(f"{task.path} [train] target_temperature: must be positive")
    bad = [a for a in params.select_architectures if a not in LINEAR_ARCHITECTURES]
    if bad:
        raise GoldloopError(f"{task.path} [train] select_architectures: {bad} not among {LINEAR_ARCHITECTURES}")
    bad = [m for m in params.select_weak_modes if m not in WEAK_MODES]
    if bad or not params.select_weak_modes:
        raise GoldloopError(f"{task.path} [train] select_weak_modes: must be a non-empty list among {WEAK_MODES}")
    if params.select_folds < 2:
        raise GoldloopError(f"{task.path} [train] select_folds: must be at least 2")
    if params.encoder not in ENCODERS:
        raise GoldloopError(f"{task.path} [train] encoder: {params.encoder!r} is not one of {sorted(ENCODERS)}")
    if params.fine_tune_growth <= 1 or params.fine_tune_min_golden < 2 or params.fine_tune_pairs_per_label < 2:
        raise GoldloopError(f"{task.path} [train] fine_tune_growth must be above 1, fine_tune_min_golden and "
                            "fine_tune_pairs_per_label at least 2")
    if params.class_weight not in ("none", "balanced"):
        raise GoldloopError(f"{task.path} [train] class_weight: must be 'none' or 'balanced'")
    return params


def normalize_strategy(name: str, where: str = "strategy") -> str:
    """Canonical strategy name (``uncertainty`` means ``entropy``); an error for unknown names."""
    name = STRATEGY_ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise GoldloopError(f"{where}: unknown strategy {name!r}; known: {list(STRATEGIES) + list(STRATEGY_ALIASES)}")
    return name


def active_params(task: Task, **overrides: Any) -> ActiveParams:
    """The task's ``[active_learning]`` settings with ``overrides`` (None values ignored) applied."""
    where = f"{task.path} [active_learning]"
    params = _coerce(ActiveParams, {**task.section("active_learning")}, where)
    params = _coerce(ActiveParams, {**dataclasses.asdict(params), **overrides}, "active-learning options")
    if params.batch_size < 1:
        raise GoldloopError(f"{where}: batch_size must be at least 1")
    if params.acquisition not in ACQUISITIONS:
        raise GoldloopError(f"{where}: acquisition must be one of {list(ACQUISITIONS)}, got {params.acquisition!r}")
    if params.beta <= 0:
        raise GoldloopError(f"{where}: beta must be above 0, got {params.beta}")
    return dataclasses.replace(params, strategy=normalize_strategy(params.strategy, f"{where} strategy"))
