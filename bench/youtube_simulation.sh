#!/usr/bin/env bash
# Acceptance run of the loop on the UCI YouTube spam data (issue 5):
#   bench/youtube_simulation.sh DATA_DIR [WORK_DIR] [simulate.sh options...]
# DATA_DIR holds Youtube01-05*.csv. In a scratch workspace (WORK_DIR, default a new temp dir;
# its own embedded PostgreSQL unless DATABASE_URL is set): ingest all five videos, split with
# video 05 as the test set (--assign), import video 05's CLASS as golden test labels, write
# videos 01-04's CLASS as the gold file, then run bin/simulate.sh (default: budget 100 in batches
# of 20, uncertainty vs random, 3 seeds) and print its JSON.
# HELD_OUT=pool instead holds out a random fifth of videos 01-04's comments (seed 0) as the test
# set and labels the rest: the same task without the shift to a new video (docs/benchmarks.md).
SCRATCH_NAME=youtube
source "$(dirname "${BASH_SOURCE[0]}")/_scratch_workspace.sh"
TASK="$ROOT/labeling/tasks/youtube_spam.toml"
"$ROOT/.venv/bin/python" - "$DATA" "$WORK" "${HELD_OUT:-video05}" <<'PY'
import glob, sys
import pandas as pd
data, work, held_out = sys.argv[1:4]
files = sorted(glob.glob(f"{data}/Youtube0[1-5]-*.csv"))
assert len(files) == 5, f"expected Youtube01-05 CSV files in {data}, found {files}"
assert held_out in ("video05", "pool"), f"HELD_OUT must be video05 or pool, not {held_out!r}"
pool = pd.concat([pd.read_csv(f) for f in files[:4]]).rename(columns={"COMMENT_ID": "id", "CLASS": "label"})
if held_out == "pool":
    test = pool.sample(frac=0.2, random_state=0)
    pool = pool[~pool["id"].isin(test["id"])]
else:
    test = pd.read_csv(files[4]).rename(columns={"COMMENT_ID": "id", "CLASS": "label"})
test[["id"]].to_csv(f"{work}/test_ids.csv", index=False)
test[["id", "label"]].to_csv(f"{work}/gold_test.csv", index=False)
pool[["id", "label"]].to_csv(f"{work}/gold_pool.csv", index=False)
PY
"$ROOT/bin/ingest.sh" --quiet --id-column COMMENT_ID --text-column CONTENT --time-column DATE \
    --author-column AUTHOR "$DATA"/Youtube0[1-5]-*.csv >&2 || [ $? -eq 2 ]
"$ROOT/bin/split.sh" --assign "test=$WORK/test_ids.csv" --dev 0 --lf 400 --seed 0 >&2
"$ROOT/bin/import_labels.sh" --task "$TASK" --quiet "$WORK/gold_test.csv" >&2 || [ $? -eq 2 ]
if [ $# -eq 0 ]; then set -- --budget 100 --batch 20 --seeds 3 --strategies uncertainty,random; fi
"$ROOT/bin/simulate.sh" --task "$TASK" --gold "$WORK/gold_pool.csv" --out "$WORK/simulation" --json "$@"
