"""Resident memory of one process that encodes with one tuned encoder after another.

A simulation meets a new tuned encoder at every label milestone, a long-running server at every
promotion: memory must stay bounded (``models.encoder.LOADED_ENCODERS``). Run in a workspace that
holds tuned encoders (a simulation's, kept with ``bin/simulate.sh --keep-encoders``)::

    GOLDLOOP_HOME=<work>/home PYTHONPATH=. .venv/bin/python bench/encoder_memory.py [--encoders 12] [--json]
"""
from __future__ import annotations

import argparse
import json
import os

from datasets.workspace import encoders_dir
from models import encoder


def resident_mib() -> float:
    """This process's resident set size."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoders", type=int, default=12, help="tuned encoders to read, one after another")
    p.add_argument("--posts", type=int, default=400, help="posts encoded with each")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    names = sorted(path.name for path in encoders_dir().glob(f"{encoder.TUNED_PREFIX}*"))[:args.encoders]
    if not names:
        raise SystemExit(f"{encoders_dir()}: no tuned encoders (keep a simulation's with --keep-encoders)")
    texts = [f"post {i}: check out my channel http://example.com" * (1 + i % 5) for i in range(args.posts)]
    encoder.encode(texts)
    rows = [{"encoder": encoder.DEFAULT_ENCODER, "resident_mib": round(resident_mib())}]
    for name in names:
        encoder.encode(texts, name)
        rows.append({"encoder": name, "resident_mib": round(resident_mib())})
    print(json.dumps(rows) if args.json else "\n".join(f"{r['encoder']:>24}  {r['resident_mib']:>6} MiB" for r in rows))


if __name__ == "__main__":
    main()
