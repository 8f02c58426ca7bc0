#!/usr/bin/env bash
# The standby's lock guards the data directory at its path: A active on
# $T/data, B waiting with --standby. The directory is moved aside (as a
# restore does) and C starts on a new one at the same path while A still
# runs on the old one. When A is killed (-9), B must not take over: the
# lock A released is the moved directory's, and C holds the one at the
# path (two brokers on one store otherwise). Once C stops, B takes over
# the directory at the path.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini "$(free_port)"

named A
named B
named C

start_named A
wait_for "$T/A.out" 'listening on' 10 || { show "$T/A.err"; exit 1; }
start_named B --standby
check "B stands by while A holds the data directory" wait_for "$T/B.out" 'standing by for ' 10

mv "$T/data" "$T/data.old"
mkdir -m 700 "$T/data"
cp "$T/data.old/data.mdb" "$T/data/"
start_named C
check "C starts on the new directory at the path" wait_for "$T/C.out" 'listening on' 10

kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
sleep 1 # B polls every 10 ms
check "C still runs" kill -0 "$PID_C"
check "B still runs" kill -0 "$PID_B"
check "B does not take over the directory C holds" bash -c "! grep -q 'listening on' '$T/B.out'"
check "  nor logs a takeover" bash -c "! grep -q 'msg=\"taking over the data directory' '$T/B.err'"
check "  and only C has the store open" \
  bash -c "! ls -l /proc/$PID_B/fd 2>/dev/null | grep -q 'data.mdb'"

kill -TERM "$PID_C"
wait_pid "$PID_C" 15
check_eq "C stops cleanly" "$?" 0
check "then B takes over the directory at the path" wait_for "$T/B.out" 'listening on ' 10
check "  and has its lock" bash -c "ls -l /proc/$PID_B/fd | grep -q ' $T/data/asylinkd.lock\$'"
kill -TERM "$PID_B"
wait_pid "$PID_B" 15
check_eq "B stops cleanly" "$?" 0
if [[ $failed -gt 0 ]]; then
  for f in "$T"/A.err "$T"/B.err "$T"/C.err; do show "$f"; done
fi
summary
