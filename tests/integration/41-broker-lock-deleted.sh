#!/usr/bin/env bash
# asylinkd.lock deleted under a running broker (an operator cleaning up
# "stale lock files", DESIGN-CHANGES 46): A serves on $T/data; its lock file
# is deleted. B started then with --standby must stand by (not open the
# store), and C started without it must be refused with "in use by another
# asylinkd": the flock on data.mdb still guards the store. A keeps serving
# meanwhile. When A is killed (-9), B takes over with A's messages. Then
# B's data.mdb is moved into a new directory at the path: a broker started
# there is refused too.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini

named A
named B
named C

start_named A
wait_for "$T/A.out" 'listening on' 10 || { show "$T/A.err"; exit 1; }
on A DE send --to IT --count 2 --timeout 10 >"$T/a1.out" 2>&1
check_eq "A serves: 2 accepted" "$(field "$T/a1.out" accepted)" 2

rm "$T/data/asylinkd.lock"
check "the lock file is gone" bash -c "[ ! -e '$T/data/asylinkd.lock' ]"

start_named B --standby
check "B stands by although the lock file was deleted" wait_for "$T/B.out" 'standing by for ' 10
sleep 1 # B tries every 10 ms
check "  and does not serve" bash -c "! grep -q 'listening on' '$T/B.out'"
check "  nor has the LMDB environment open" \
  bash -c "! ls -l /proc/$PID_B/fd 2>/dev/null | grep -q 'lock.mdb'"

timeout 20 "$ASYLINKD" --config "$T/C.ini" >"$T/C.out" 2>"$T/C.err" </dev/null
check_eq "C without --standby is refused (exit 1)" "$?" 1
check "  saying the data directory is in use by another asylinkd" \
  grep -q 'msg="data directory is in use by another asylinkd' "$T/C.err"
check "  and serves nothing" bash -c "! grep -q 'listening on' '$T/C.out'"

check "A still runs" kill -0 "$PID_A"
on A DE send --to IT --count 3 --timeout 10 >"$T/a2.out" 2>&1
check_eq "A still serves: 3 more accepted" "$(field "$T/a2.out" accepted)" 3

kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
check "B takes over when A is killed (-9)" wait_for "$T/B.out" 'listening on ' 15
check "  logged the takeover" grep -q 'msg="taking over the data directory"' "$T/B.err"
on B IT recv --count 5 --timeout 10 >"$T/it.out" 2>&1
check_eq "IT receives A's 5 messages from B" "$(field "$T/it.out" distinct)" 5
timeout 20 "$ASYLINKD" --config "$T/C.ini" >"$T/C2.out" 2>"$T/C2.err" </dev/null
check_eq "C is refused while B serves (exit 1)" "$?" 1

# The data file itself moved into a new directory at the path (a botched
# restore): a broker there would open B's live data.mdb with a lock.mdb of
# its own, two writers LMDB cannot see. The data file's lock refuses it.
mv "$T/data" "$T/data.old" && mkdir -m 700 "$T/data" && mv "$T/data.old/data.mdb" "$T/data/"
timeout 20 "$ASYLINKD" --config "$T/C.ini" >"$T/C3.out" 2>"$T/C3.err" </dev/null
check_eq "C on B's data.mdb moved to a new directory is refused (exit 1)" "$?" 1
check "  as in use by another asylinkd" grep -q 'in use by another asylinkd' "$T/C3.err"
check "  and B still runs" kill -0 "$PID_B"
on B DE send --to IT --count 1 --timeout 10 >"$T/b1.out" 2>&1
check_eq "  (a message accepted by B)" "$(field "$T/b1.out" accepted)" 1
kill -TERM "$PID_B"
wait_pid "$PID_B" 15
check_eq "B stops cleanly" "$?" 0
if [[ $failed -gt 0 ]]; then
  for f in A B C; do show "$T/$f.err"; done
fi
summary
