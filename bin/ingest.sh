#!/usr/bin/env bash
# Load raw posts (Twitter v1.1/v2 JSON, JSON lines, CSV, parquet; gzip ok) into PostgreSQL.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module datasets.ingest "$@"
