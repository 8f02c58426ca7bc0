# shellcheck shell=bash
# tests/docs/lib.sh — sourced by the docs tests (tests/docs/*.sh) after `set -euo pipefail`:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME
# gives them pass/fail counters that print one "ok"/"FAIL" line per check, and T, a fresh
# directory (${TMPDIR:-/tmp}/asylink-NAME.XXXXXX) removed when the script exits.
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }
T=$(mktemp -d "${TMPDIR:-/tmp}/asylink-${1:?lib.sh: a name for the scratch directory}.XXXXXX")
trap 'rm -rf "$T"' EXIT
