#!/usr/bin/env bash
# Import labels from CSV / JSONL / parquet as human labels (e.g. a gold file as golden labels).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module labeling.import_labels "$@"
