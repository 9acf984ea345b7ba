"""Benchmark: sentence-encoder throughput (posts/s) per variant, and the embedding cache.

    .venv/bin/python bench/encode.py [--posts 100000] [--compare 5000] [--json]
    .venv/bin/python bench/encode.py --csv ../shared/data/airline-sentiment/tweets.csv --text-column text

Every variant runs in its own child process (so each peak RSS is its own and one variant's
threads or quantized weights cannot leak into the next) on the same texts: by default
synthetic posts from :func:`labeling.synthetic.posts`, or a CSV column. The variants are
encoded on the first ``--compare`` posts:

* ``naive``: PyTorch fp32, batches of 32 in input order (a plain loop over ``model.encode`` on
  consecutive slices: every batch padded to its longest post);
* ``torch``: PyTorch fp32, length-sorted batches of 32 (``encode`` with ``BACKEND = "torch"``);
* ``torch-int8``: the same with ``nn.Linear`` quantized to int8 (dynamic, per-channel weights),
  a speed-up rejected for accuracy (docs/benchmarks.md);
* ``torch-1thread``, ``torch-int8-1thread``: the two above with ``torch.set_num_threads(1)``;
* ``onnx-2threads``: ONNX Runtime, one batch at a time on two intra-op threads;
* ``onnx-1worker``: ONNX Runtime, one batch at a time on one thread;
* ``onnx-bs16``, ``onnx-bs64``: the default with other batch sizes;
* ``onnx-last-layer``: ONNX Runtime as shipped, encoder ``minilm`` (the last layer pooled, where
  the default ``minilm-layers`` averages layers 2, 4 and 6 of the same forward pass);
* ``onnx``: :func:`models.encoder.encode` as shipped (ONNX Runtime fp32, length-sorted batches
  of 32, ``WORKERS`` batches at once on one thread each, the default encoder).

Then ``cache`` runs :func:`models.encoder.embed` on all ``--posts`` posts in a temporary
workspace twice: the first call encodes and writes the cache (the acceptance target: 100,000
posts in under 10 minutes on 2 cores), the second must encode 0 posts. Progress on stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets import jsonout  # noqa: E402

VARIANTS = {  # name -> settings of models.encoder; "int8": quantize the PyTorch model, "torch_threads": its
    # threads, "encoder": an encoder other than the default
    "naive": {"BACKEND": "torch"},
    "torch": {"BACKEND": "torch"},
    "torch-1thread": {"BACKEND": "torch", "torch_threads": 1},
    "torch-int8": {"BACKEND": "torch", "int8": True},
    "torch-int8-1thread": {"BACKEND": "torch", "int8": True, "torch_threads": 1},
    "onnx-2threads": {"THREADS": 2, "WORKERS": 1},
    "onnx-1worker": {"WORKERS": 1},
    "onnx-bs16": {"BATCH_SIZE": 16},
    "onnx-bs64": {"BATCH_SIZE": 64},
    "onnx-last-layer": {"encoder": "minilm"},
    "onnx": {},
}
NAIVE_BATCH = 32


def texts(args: argparse.Namespace, n: int) -> tuple[list[str], list[str]]:
    """The first ``n`` benchmark posts as (ids, texts)."""
    if args.csv:
        import pandas as pd

        frame = pd.read_csv(args.csv, nrows=n)
        return [f"row{i}" for i in range(len(frame))], frame[args.text_column].fillna("").astype(str).tolist()
    from labeling.synthetic import posts

    frame = posts(n, seed=args.seed)
    return frame["id"].tolist(), frame["text"].tolist()


def _peak_rss_mb() -> float:
    """This process's high-water RSS (``VmHWM``; reset at exec, so only this child's own)."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _encoder_of(variant: str) -> str:
    """The encoder ``variant`` encodes with: its ``"encoder"`` setting, else the default."""
    from models import encoder

    return VARIANTS.get(variant, {}).get("encoder", encoder.DEFAULT_ENCODER)


def _prepare(variant: str) -> None:
    """Apply ``variant``'s settings and load its model (export + session start count as loading)."""
    import torch

    from models import encoder

    name = _encoder_of(variant)
    settings = {k: v for k, v in VARIANTS.get(variant, {}).items() if k != "encoder"}
    torch.set_num_threads(settings.pop("torch_threads", torch.get_num_threads()))
    if settings.pop("int8", False):
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(encoder.load(name), {torch.nn.Linear: per_channel_dynamic_qconfig}, inplace=True)
    for setting, value in settings.items():
        setattr(encoder, setting, value)
    encoder.load(name)
    if encoder.BACKEND == "onnx":
        encoder._session(name)


def _encode_variant(variant: str, ids: list[str], batch: list[str], out: dict) -> None:
    """Encode ``batch`` the way ``variant`` does; the cache run records what each call encoded."""
    from models import encoder

    if variant == "naive":
        model = encoder.load()
        for start in range(0, len(batch), NAIVE_BATCH):
            model.encode(batch[start:start + NAIVE_BATCH], batch_size=NAIVE_BATCH, normalize_embeddings=True)
    elif variant == "cache":
        calls: list[int] = []
        real = encoder.encode
        encoder.encode = lambda t, *a, **k: calls.append(len(t)) or real(t, *a, **k)
        encoder.embed(ids, batch, progress=True)
        encoded, again = sum(calls), time.perf_counter()
        encoder.embed(ids, batch)
        out.update(first_call_encoded=encoded, second_call_encoded=sum(calls) - encoded,
                   second_call_seconds=round(time.perf_counter() - again, 2),
                   shards=len(encoder.shards(encoder.cache_dir())))
    else:
        encoder.encode(batch, _encoder_of(variant), progress=True)


def child(args: argparse.Namespace) -> dict:
    """Run one variant in this (child) process; return its figures."""
    ids, batch = texts(args, args.posts if args.child == "cache" else args.compare)
    started = time.perf_counter()
    _prepare(args.child)
    out: dict = {"load_seconds": round(time.perf_counter() - started, 2), "posts": len(batch)}
    cpu, started = time.process_time(), time.perf_counter()
    _encode_variant(args.child, ids, batch, out)
    wall = time.perf_counter() - started - out.get("second_call_seconds", 0)
    out.update(wall_seconds=round(wall, 2), posts_per_second=round(len(batch) / wall, 1),
               cpu_seconds=round(time.process_time() - cpu, 1), peak_rss_mb=round(_peak_rss_mb(), 1))
    return out


def run_child(variant: str, args: argparse.Namespace, home: str) -> dict:
    """Run ``variant`` in a fresh interpreter and parse its JSON line."""
    print(f"{variant} ...", file=sys.stderr, flush=True)
    cmd = [sys.executable, __file__, "--child", variant, "--posts", str(args.posts), "--compare", str(args.compare),
           "--seed", str(args.seed)]
    if args.csv:
        cmd += ["--csv", str(args.csv), "--text-column", args.text_column]
    env = {**os.environ, "GOLDLOOP_HOME": home, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"variant {variant} failed with status {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--posts", type=int, default=100_000, help="posts for the cache run (default 100,000)")
    p.add_argument("--compare", type=int, default=5_000, help="posts per compared variant (default 5,000)")
    p.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ",".join(VARIANTS))
    p.add_argument("--csv", type=Path, help="encode this CSV's --text-column instead of synthetic posts")
    p.add_argument("--text-column", default="text")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic posts")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(jsonout.dumps(child(args), sort_keys=True))
        return 0
    results = {}
    with tempfile.TemporaryDirectory(prefix="goldloop-bench-encode-") as home:
        for variant in [v for v in args.variants.split(",") if v] + (["cache"] if args.posts else []):
            results[variant] = run_child(variant, args, home)
            if not args.json:
                r = results[variant]
                print(f"{variant:>15}: {r['posts']:,} posts, {r['posts_per_second']:.1f} posts/s, "
                      f"{r['wall_seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    cache = results.get("cache")
    out = {"source": str(args.csv) if args.csv else "labeling.synthetic.posts", "variants": results,
           "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    if cache:
        out["target_met"] = cache["wall_seconds"] < 600 if args.posts >= 100_000 else None
    print(jsonout.dumps(out, sort_keys=True) if args.json else
          (f"cache: second call encoded {cache['second_call_encoded']} posts in {cache['second_call_seconds']} s"
           if cache else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
