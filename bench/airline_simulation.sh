#!/usr/bin/env bash
# Acceptance run of the loop on the airline-sentiment tweets (issue 10), done as a new user would:
#   bench/airline_simulation.sh DATA_DIR [WORK_DIR] [simulate.sh options...]
# DATA_DIR holds tweets.csv, test_ids.csv and new_user_task.toml (used unchanged). In a scratch
# workspace (WORK_DIR, default a new temp dir; its own embedded PostgreSQL unless DATABASE_URL is
# set): ingest tweets.csv, split with the fixed test ids as the test set and 2,000 LF posts,
# import the test tweets' labels as golden test labels, write the other tweets' labels as the
# gold file, then run bin/simulate.sh (default: budget 500 in batches of 50, uncertainty vs
# random, 3 seeds) and print its JSON.
SCRATCH_NAME=airline
source "$(dirname "${BASH_SOURCE[0]}")/_scratch_workspace.sh"
TASK="$DATA/new_user_task.toml"
"$ROOT/.venv/bin/python" - "$DATA" "$WORK" <<'PY'
import sys
import pandas as pd
data, work = sys.argv[1], sys.argv[2]
tweets = pd.read_csv(f"{data}/tweets.csv", dtype={"tweet_id": str})
test_ids = set(pd.read_csv(f"{data}/test_ids.csv", dtype={"id": str})["id"])
labels = tweets.rename(columns={"tweet_id": "id", "airline_sentiment": "label"})[["id", "label"]]
labels[labels["id"].isin(test_ids)].to_csv(f"{work}/gold_test.csv", index=False)
labels[~labels["id"].isin(test_ids)].to_csv(f"{work}/gold_pool.csv", index=False)
PY
"$ROOT/bin/ingest.sh" --quiet --id-column tweet_id --text-column text "$DATA/tweets.csv" >&2 || [ $? -eq 2 ]
"$ROOT/bin/split.sh" --assign "test=$DATA/test_ids.csv" --test 0 --dev 0 --lf 2000 --seed 0 >&2
"$ROOT/bin/import_labels.sh" --task "$TASK" --quiet "$WORK/gold_test.csv" >&2 || [ $? -eq 2 ]
if [ $# -eq 0 ]; then set -- --budget 500 --batch 50 --seeds 3 --strategies uncertainty,random; fi
"$ROOT/bin/simulate.sh" --task "$TASK" --gold "$WORK/gold_pool.csv" --out "$WORK/simulation" --json "$@"
