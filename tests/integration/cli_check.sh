# cli_check.sh — sourced by the command line tests that take only the
# asylink binary (20-cli-certs.sh, 64-cli-hostile-files.sh): checks the
# argument, makes a temporary working directory (removed on exit) and
# gives the checks below. The script ends with cli_summary.
#
#   source "$(dirname "$0")/cli_check.sh" "$@"   # sets A (the tool) and tmp
set -uo pipefail

if [[ $# -ne 1 || ! -x "$1" ]]; then
  echo "usage: $0 path/to/asylink" >&2
  exit 2
fi
A="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
unset ASYLINK_PASSPHRASE
umask 022

passed=0
failed=0
rc=0

# run ARGS...: the tool, at most 20 s; stdout in out, stderr in err, status in $rc.
run() {
  timeout 20 "$A" "$@" >out 2>err </dev/null
  rc=$?
}

pass() {
  passed=$((passed + 1))
  echo "ok    $1"
}

fail() {
  failed=$((failed + 1))
  echo "FAIL  $1"
  sed 's/^/      stdout| /' out 2>/dev/null | head -20
  sed 's/^/      stderr| /' err 2>/dev/null | head -20
}

# check DESC WANT_RC [PATTERN]: the last run exited WANT_RC and, if given,
# PATTERN (grep -E) appears on its stdout or stderr.
check() {
  local desc=$1 want=$2 pat=${3-}
  if [[ $rc -eq $want ]] && { [[ -z $pat ]] || grep -qE -- "$pat" out err; }; then
    pass "$desc"
  else
    fail "$desc (exit $rc, wanted $want${pat:+ and /$pat/})"
  fi
}

# check_true DESC COMMAND...: COMMAND succeeds.
check_true() {
  local desc=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$desc"; else fail "$desc"; fi
}

# check_eq DESC GOT WANT
check_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1 (got '$2', wanted '$3')"; fi
}

# cli_summary: "N passed, M failed"; the status is 1 if any check failed.
cli_summary() {
  echo
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
}
