#!/usr/bin/env bash
# Acceptance run of issue 3 on the UCI YouTube spam data: videos 01-04 as LF/train posts,
# video 05 (Shakira) as the test split with its CLASS column imported as golden labels, then
# bin/label.sh with the youtube_spam task (label model vs majority vote on test).
# usage: bench/youtube_acceptance.sh DATA_DIR [LF_SIZE]
# Runs in a fresh workspace with its own embedded PostgreSQL (GOLDLOOP_HOME is a temp dir
# unless ACCEPT_HOME is set); prints the label.sh report and the JSON result's path.
set -euo pipefail
DATA="${1:?usage: bench/youtube_acceptance.sh DATA_DIR [LF_SIZE]}"
LF_SIZE="${2:-300}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TASK="$ROOT/labeling/tasks/youtube_spam.toml"
unset DATABASE_URL
export GOLDLOOP_HOME="${ACCEPT_HOME:-$(mktemp -d -t goldloop-youtube-XXXXXX)}"
WORK="$GOLDLOOP_HOME/acceptance"; mkdir -p "$WORK"
cleanup() { "$ROOT/bin/db.sh" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== workspace $GOLDLOOP_HOME" >&2
"$ROOT/bin/db.sh" start >/dev/null
"$ROOT/bin/ingest.sh" "$DATA"/Youtube0*.csv --id-column COMMENT_ID --text-column CONTENT \
  --time-column DATE --author-column AUTHOR --json > "$WORK/ingest.json" || [ $? = 2 ]
echo "ingest: $(cat "$WORK/ingest.json")" >&2
# the ids of video 05 form the test split
"$ROOT/.venv/bin/python" - "$DATA" "$WORK/test_ids.csv" <<'PY'
import csv, glob, sys
(path,) = glob.glob(sys.argv[1] + "/Youtube05*.csv")
with open(path, newline="", encoding="utf-8") as src, open(sys.argv[2], "w") as out:
    out.write("id\n" + "".join(row["COMMENT_ID"] + "\n" for row in csv.DictReader(src)))
PY
"$ROOT/bin/split.sh" --assign "test=$WORK/test_ids.csv" --test 0 --dev 0 --lf "$LF_SIZE" --seed 1 --json \
  > "$WORK/split.json"
echo "split: $(cat "$WORK/split.json")" >&2
"$ROOT/bin/import_labels.sh" "$DATA"/Youtube05*.csv --task "$TASK" --id-column COMMENT_ID \
  --label-column CLASS --json > "$WORK/import.json" || [ $? = 2 ]
echo "import: $("$ROOT/.venv/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); r.pop("rejects"); print(r)' "$WORK/import.json")" >&2
"$ROOT/bin/label.sh" --task "$TASK" --quiet
"$ROOT/bin/label.sh" --task "$TASK" --json > "$WORK/label.json"
echo "JSON result: $WORK/label.json" >&2
