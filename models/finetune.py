"""Fine-tune the sentence encoder on golden labels, again each time they double.

A frozen encoder under a linear head levels off: on the airline pool every frozen representation
tried ends within 0.005 macro-F1 of 0.73 at 500 random labels, while the same head on MiniLM
fine-tuned on those labels the SetFit way (Tunstall et al. 2022: pairs of posts with the same
and with different golden labels, their cosine similarity regressed on 1 / 0) gains 0.024-0.042
on the pool and 0.014 on the airline acceptance test (docs/benchmarks.md, "What a fine-tuned
encoder would add"). Tuning is not free: the tuned encoder is a new encoder, every post it scores
must be encoded again, and tuning itself takes 20-100 s for 100-500 labels on 2 cores. An encoder
tuned on half the labels kept nearly all of the gain ("Tuned at a label milestone"), so training
tunes a fresh copy of the base encoder only at milestones: the first time there are
``fine_tune_min_golden`` golden labels, then whenever they have grown ``fine_tune_growth``-fold
since the encoder in use was tuned. Between milestones the previous tuned encoder and its cached
embeddings are reused, so the pool is encoded once per milestone, not once per training. A
single training (``bin/train.sh``, the simulation) tunes before its fit; a loop iteration hands
the tuning and the encoding of the pool to a background job (:mod:`models.tuning_job`) and fits
on the encoder it has, so nobody labeling waits for a milestone.

A tuned encoder is saved under ``$GOLDLOOP_HOME/encoders/tuned-<SHA-256 of its weights>/`` with
the labels it saw counted in its metadata; :mod:`models.encoder` loads, verifies, exports and
caches it like a packaged one. Model selection keeps cross-validating on the frozen base
encoder: an encoder tuned on all golden labels has seen every held-out fold, so its CV scores
would favour it unfairly. Only the final fit reads the tuned one.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from tqdm import tqdm

from datasets.workspace import encoders_dir
from models import encoder, tuning_job
from models.params import TrainParams

BATCH_PAIRS = 16          # pairs per optimiser step
LEARNING_RATE = 2e-5      # AdamW, SetFit's default for MiniLM-sized bodies
MAX_TOKENS = 128          # tokens per post while tuning (posts here are short; halves the cost of long ones)


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder a final fit reads and why (``Selection.encoder`` in the model card)."""

    name: str
    base: str
    tuned_on: int          # golden labels the encoder was tuned on (0: the frozen base encoder)
    reason: str
    seconds: float = 0.0   # tuning time when this training tuned it
    job: tuning_job.TuningJob | None = None   # the background tuning this milestone started or found

    def to_json(self) -> dict[str, Any]:
        """The model card's record; ``tuning_job`` (status, labels, start, log) for scripts that wait."""
        record = {"name": self.name, "base": self.base, "tuned_on": self.tuned_on, "reason": self.reason,
                  "tuning_seconds": round(self.seconds, 1)}
        if self.job is not None:
            record["tuning_job"] = {"status": self.job.status, "golden_labels": self.job.golden_labels,
                                    "started_at": self.job.started_at, "error": self.job.error,
                                    "log": str(self.job.log)}
        return record


def contrastive_pairs(y: np.ndarray, rows: np.ndarray, pairs_per_label: int,
                      rng: np.random.Generator) -> list[tuple[int, int, float]]:
    """For each labeled row, ``pairs_per_label`` / 2 partners with its label (target 1) and as
    many with another label (target 0), in random order."""
    pairs = []
    for _ in range(pairs_per_label // 2):
        for i in rows:
            pairs.append((int(i), int(rng.choice(rows[y[rows] == y[i]])), 1.0))
            pairs.append((int(i), int(rng.choice(rows[y[rows] != y[i]])), 0.0))
    rng.shuffle(pairs)  # type: ignore[arg-type]
    return pairs


def pooled_vectors(transformer: Any, tokenizer: Any, layers: tuple[int, ...], batch: list[str]) -> Any:
    """Vectors of ``batch`` as a torch tensor, with gradients: the transformer's ``layers``
    pooled as :func:`models.encoder.pool_layers` pools them."""
    tokens = tokenizer(batch, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
    states = transformer(**tokens, output_hidden_states=True).hidden_states
    return encoder.pool_layers(states, tokens["attention_mask"], layers)


def tune_transformer(transformer: Any, tokenizer: Any, layers: tuple[int, ...], texts: Sequence[str],
                     pairs: list[tuple[int, int, float]], *, progress: bool = False) -> float:
    """Regress the cosine similarity of each pair of ``texts`` (vectors pooled over ``layers`` as
    :func:`models.encoder.pool_layers` pools them) on its target, one pass; the seconds it took."""
    import torch  # noqa: PLC0415

    optimizer = torch.optim.AdamW(transformer.parameters(), lr=LEARNING_RATE)
    transformer.train()
    started = time.perf_counter()
    for start in tqdm(range(0, len(pairs), BATCH_PAIRS), desc="fine-tune encoder", unit="step", file=sys.stderr,
                      disable=not progress):
        batch = pairs[start:start + BATCH_PAIRS]
        left = pooled_vectors(transformer, tokenizer, layers, [texts[i] for i, _, _ in batch])
        right = pooled_vectors(transformer, tokenizer, layers, [texts[j] for _, j, _ in batch])
        loss = ((left * right).sum(1) - torch.tensor([t for _, _, t in batch])).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    transformer.eval()
    return time.perf_counter() - started


def tune(base: str, texts: Sequence[str], y: np.ndarray, *, pairs_per_label: int, seed: int,
         progress: bool = False) -> EncoderChoice:
    """Tune a fresh copy of encoder ``base`` on golden ``texts`` / ``y`` and save it to the workspace."""
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)
    model = copy.deepcopy(encoder.load(base))
    pairs = contrastive_pairs(np.asarray(y), np.arange(len(y)), pairs_per_label, np.random.default_rng(seed))
    seconds = tune_transformer(model[0].auto_model, model.tokenizer, encoder.spec_of(base).layers, list(texts),
                               pairs, progress=progress)
    name = _save(model, base, {"golden_labels": len(y), "pairs": len(pairs), "seed": seed,
                               "tuning_seconds": round(seconds, 1)})
    return EncoderChoice(name, base, len(y), f"tuned on {len(y)} golden labels ({len(pairs)} pairs)", seconds)


def _save(model: Any, base: str, facts: dict[str, Any]) -> str:
    """Write ``model`` to ``encoders/tuned-<weights hash>/`` (tmp dir + rename) and return its name."""
    root = encoders_dir()
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{encoder.PARTIAL_PREFIX}{uuid.uuid4().hex[:12]}"
    try:
        model.save(str(tmp))
        digest = encoder.file_sha256(tmp / encoder.spec_of(base).weights)
        meta = {"base": base, "layers": list(encoder.spec_of(base).layers), "weights_sha256": digest,
                "created_at": datetime.now(timezone.utc).isoformat(), **facts}
        (tmp / encoder.TUNED_METADATA).write_text(json.dumps(meta, indent=2))
        name = f"{encoder.TUNED_PREFIX}{digest[:16]}"
        if (root / name).exists():   # the same weights again (same labels and seed): keep the first copy
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, root / name)
        return name
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def newest_tuned(names: Sequence[str | None]) -> str | None:
    """Of these tuned encoders (None: none), the one tuned on the most golden labels."""
    known = [(meta["golden_labels"], name) for name in names if name and (meta := encoder.tuned_metadata(name))]
    return max(known, key=lambda pair: pair[0])[1] if known else None


def choose_encoder(params: TrainParams, texts: Sequence[str], y: np.ndarray, previous: str | None, *,
                   background: tuning_job.Background | None = None, progress: bool = False) -> EncoderChoice:
    """The encoder the final fit on golden ``texts`` / ``y`` reads: the base encoder, the
    ``previous`` training's tuned encoder, or one tuned now (see the module docstring).

    With ``background`` a milestone starts (or finds) the task's :mod:`models.tuning_job` and this
    fit reads the encoder it already has; without it the tuning runs here, before the fit.
    """
    base, n = params.encoder, len(y)
    if not params.fine_tune:
        return EncoderChoice(base, base, 0, "[train] fine_tune = false: the frozen encoder")
    meta = encoder.tuned_metadata(previous) if previous else None
    if meta is None or meta.get("base") != base:
        meta, previous = None, None
    in_use = (EncoderChoice(str(previous), base, int(meta["golden_labels"]), f"tuned at {meta['golden_labels']} "
                                                                             "golden labels")
              if meta else EncoderChoice(base, base, 0, "the frozen encoder"))
    due = max(params.fine_tune_min_golden, int(np.ceil(params.fine_tune_growth * in_use.tuned_on)))
    if n < due or len(np.unique(y)) < 2:
        return dataclasses.replace(in_use, reason=f"{in_use.reason}; the next tuning at {due} golden labels"
                                                  + ("" if meta else " of at least two classes"))
    if background is None:
        return tune(base, texts, y, pairs_per_label=params.fine_tune_pairs_per_label, seed=params.seed,
                    progress=progress)
    job = tuning_job.current_or_start(base, list(texts), y, background, seed=params.seed,
                                      pairs_per_label=params.fine_tune_pairs_per_label)
    state = (f"failed ({job.error})" if job.status == tuning_job.FAILED
             else f"running in the background since {job.started_at}")
    return dataclasses.replace(in_use, job=job, reason=f"{in_use.reason}; tuning on {job.golden_labels} golden "
                                                       f"labels {state}, log {job.log}")
