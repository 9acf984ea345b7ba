#!/usr/bin/env bash
# The links posts carry, with counts per predicted label; filters and exports.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module datasets.url_report "$@"
