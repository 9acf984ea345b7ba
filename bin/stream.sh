#!/usr/bin/env bash
# Long-running worker: classify new posts (any ingestion, or files dropped into --drop-dir) with the production model.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.stream "$@"
