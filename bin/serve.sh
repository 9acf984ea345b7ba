#!/usr/bin/env bash
# Serve the predict API of a task's production model (granian).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.serving.serve "$@"
