# shellcheck shell=bash
# tests/checks.sh — the shell tests' checks (source it): ok/FAIL lines and their counts.
#
#   pass DESC / fail DESC       count one check and print "ok    DESC" or "FAIL  DESC"
#   check DESC COMMAND...       COMMAND succeeds
#   check_eq DESC GOT WANT      GOT is WANT
#   check_ge DESC GOT MIN       GOT is a number >= MIN
#   summary                     prints the totals and exits non-zero on any failure
#
# Sourced by tests/integration/lib.sh, tests/docs/lib.sh and the tests that use neither.

passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; }

# check DESC COMMAND...: COMMAND succeeds.
check() {
  local desc=$1
  shift
  if "$@" >/dev/null 2>&1; then pass "$desc"; else fail "$desc"; fi
}

# check_eq DESC GOT WANT
check_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1 ($2)"; else fail "$1 (got '$2', wanted '$3')"; fi
}

# check_ge DESC GOT MIN
check_ge() {
  if [[ "$2" =~ ^[0-9]+$ && "$2" -ge "$3" ]]; then pass "$1 ($2 >= $3)"; else fail "$1 (got '$2', wanted >= $3)"; fi
}

# summary: prints the totals and exits non-zero on any failure.
summary() {
  echo
  echo "$passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit $?
}
