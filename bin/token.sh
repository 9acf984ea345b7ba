#!/usr/bin/env bash
# Bearer tokens of the predict API: add NAME, list, revoke NAME.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module models.serving.token_cli "$@"
