#!/usr/bin/env bash
# The main job: set-up, then ingest -> split -> golden labels -> label -> train -> evaluate -> queue.
# With no arguments it runs on the bundled demo corpus. See --help.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.pipeline "$@"
