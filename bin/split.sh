#!/usr/bin/env bash
# Create a new immutable data-set version (test/dev/lf/train splits) and export it to parquet.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module datasets.splits "$@"
