#!/usr/bin/env bash
# Train the end model on weak + golden labels.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.train "$@"
