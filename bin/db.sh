#!/usr/bin/env bash
# Manage the embedded PostgreSQL server: start | stop | status | url.
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module datasets.dbcli "$@"
