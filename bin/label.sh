#!/usr/bin/env bash
# Apply a task's labeling functions, fit the label model, report and export train_weak.parquet.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module labeling.label "$@"
