#!/usr/bin/env bash
# Evaluate models on the golden test set.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.evaluate "$@"
