#!/usr/bin/env bash
# One loop iteration (label, train, evaluate, queue).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.loop "$@"
