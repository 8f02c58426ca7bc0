#!/usr/bin/env bash
# scripts/demo.sh prints what an official can follow (issue 13): run with
# this build's binaries and its output in a file (not a terminal), it
# succeeds, every step is followed by one "=> what happened: what it
# proves" line, FR's signed receipt is shown and verified, and there is no
# colour code anywhere; on a terminal (script(1)) the headings are bold.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
DEMO="$SOURCE_ROOT/scripts/demo.sh"

ASYLINKD="$ASYLINKD" ASYLINK="$ASYLINK" TMPDIR="$T" BUILD_DIR="$T" bash "$DEMO" >"$T/demo.out" \
  2>"$T/demo.err" </dev/null
rc=$?
check_eq "the demo succeeds" "$rc" 0
[[ $rc == 0 ]] || { show "$T/demo.out"; show "$T/demo.err"; }
check_eq "no escape character in its output to a file" "$(grep -c $'\e' "$T/demo.out")" 0
check_eq "nor on its stderr" "$(grep -c $'\e' "$T/demo.err")" 0

# Each heading of a step ("== N." and its "==    " sub-steps) is followed by
# one "=> ...: ..." line before the next heading.
python3 - "$T/demo.out" >"$T/steps.txt" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
steps, current = [], None
for line in lines:
    if line.startswith("== "):
        current = [line, 0]
        steps.append(current)
    elif line.startswith("=> ") and current is not None:
        current[1] += 1
for head, n in steps:
    print("%d %s" % (n, head))
PY
check_eq "every numbered step and sub-step sums itself up in exactly one line" \
  "$(grep -E ' == ([0-9]\.|   )' "$T/steps.txt" | grep -vc '^1 ')" 0
check_ge "numbered steps and sub-steps with their line" "$(grep -cE '^1 == ([0-9]\.|   )' "$T/steps.txt")" 9
check_eq "each summary says what happened, then what it proves" \
  "$(grep '^=> ' "$T/demo.out" | grep -cvE '^=> .+: .+')" 0
check "the receipt is shown: FR delivered" grep -qE '^FR +delivered +20' "$T/demo.out"
check "... and verified as evidence" grep -qE '^valid receipt: FR +delivered' "$T/demo.out"
check "the analyst's CSV carries the provenance" grep -q ',topic,message_id,sender,published$' "$T/demo.out"

if command -v script >/dev/null; then
  ASYLINKD="$ASYLINKD" ASYLINK="$ASYLINK" TMPDIR="$T" BUILD_DIR="$T" TERM=xterm \
    script -qec "bash '$DEMO'" "$T/demo.tty" >/dev/null 2>&1 </dev/null
  check "on a terminal the headings are bold" grep -q $'\e\[1m== 1\.' "$T/demo.tty"
  NO_COLOR=1 ASYLINKD="$ASYLINKD" ASYLINK="$ASYLINK" TMPDIR="$T" BUILD_DIR="$T" TERM=xterm \
    script -qec "bash '$DEMO'" "$T/demo.nocolor" >/dev/null 2>&1 </dev/null
  check_eq "NO_COLOR turns colours off on a terminal too" "$(grep -c $'\e\[' "$T/demo.nocolor")" 0
fi
summary
