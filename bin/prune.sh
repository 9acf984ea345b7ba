#!/usr/bin/env bash
# Remove the workspace's fine-tuned encoders that no run, production model or tuning job uses.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.prune "$@"
