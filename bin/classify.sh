#!/usr/bin/env bash
# Classify stored posts (--version/--split/--since) or files (PATH... --out FILE) with the production model; resumable.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.classify "$@"
