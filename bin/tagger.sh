#!/usr/bin/env bash
# Serve the web tagger (granian, 127.0.0.1 unless --host): --port, --task, --version.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module tagger_app.serve "$@"
