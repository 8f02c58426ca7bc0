# shellcheck shell=bash
# tests/docs/lib.sh — sourced by the docs tests (tests/docs/*.sh) after `set -euo pipefail`:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME
# gives them the checks of tests/checks.sh and T, a fresh directory (mktemp's template
# ${TMPDIR:-/tmp}/asylink-NAME.XXXXXX) removed when the script exits.
# shellcheck source=tests/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/../checks.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/asylink-${1:?lib.sh: a name for the scratch directory}.XXXXXX")
trap 'rm -rf "$T"' EXIT
