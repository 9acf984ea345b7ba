#!/usr/bin/env bash
# Write golden sets per split to parquet, CSV or JSONL.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module tagger_app.golden_export "$@"
