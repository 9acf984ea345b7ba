#!/usr/bin/env bash
# Manage annotator accounts: add|list|disable NAME (--password-stdin).
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
run_module tagger_app.annotators_cli "$@"
