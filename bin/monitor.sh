#!/usr/bin/env bash
# Check the production model on live posts (drift, confidence, LF agreement); --retrain retrains and promotes a better model.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.monitor "$@"
