#!/usr/bin/env bash
# The model registry: list, show, promote or roll back a task's production model.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.registry "$@"
