#!/usr/bin/env bash
# Simulate an annotator from a gold file to compare active-learning strategies.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.simulate "$@"
