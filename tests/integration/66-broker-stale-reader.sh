#!/usr/bin/env bash
# A read-only reader of the live store killed while the broker runs
# (DESIGN-CHANGES 56). `asylink audit export --data DIR` reads the broker's
# data directory with LMDB directly, beside the running broker (as mdb_copy
# or a monitoring tool may). Here its output goes to a pipe nobody reads, so
# it blocks inside its read transaction, and is killed with SIGKILL there:
# its slot stays in lock.mdb and pins the pages of its snapshot. LMDB clears
# such slots only when the first process opens the environment; the broker
# now clears them with each sweep (store.sweep_interval, 1 s here) and logs
# how many, and keeps serving. Needs mdb_stat (lmdb-utils) to read the
# reader table.
#   66-broker-stale-reader.sh ASYLINKD ASYLINK PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v mdb_stat >/dev/null || { echo "66-broker-stale-reader needs mdb_stat (lmdb-utils)" >&2; exit 1; }
make_federation || exit 1
write_broker_ini
sed -i 's/^\[store\]$/[store]\nsweep_interval = 1s/' "$CONF"
start_broker || exit 1
CLEARED='level=info comp=store msg="stale LMDB reader slots cleared" count=1 '

# readers: "PID TXNID" for each slot of the reader table (mdb_stat -r takes no slot;
# it exits 1 after listing).
readers() { { mdb_stat -r "$T/data" 2>/dev/null || true; } | awk '$1 ~ /^[0-9]+$/ {print $1, $3}'; }
# reading PID: PID holds a slot with a read transaction open (a txnid, not "-").
reading() { readers | grep -qE "^$1 [0-9]+$"; }
# has_slot PID: PID holds a slot (in a transaction or not); no_slot PID: it does not.
has_slot() { readers | grep -qE "^$1 "; }
no_slot() { ! has_slot "$1"; }
# wait_until SECONDS COMMAND...: until COMMAND succeeds (every 0.1 s).
wait_until() {
  local limit=$1 i=0
  shift
  while [[ $i -lt $((limit * 10)) ]]; do
    "$@" && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

echo "== 1. an audit export of the live store, blocked mid-read, killed with SIGKILL"
peer DE send --to FR --count 400 --size 64 >"$T/send.out" 2>&1
check_eq "400 messages accepted (each an audit entry)" "$(field "$T/send.out" accepted)" 400
mkfifo "$T/pipe"
exec 3<>"$T/pipe" # a pipe held open that nobody reads: the export blocks once it is full
"$ASYLINK" audit export --data "$T/data" >"$T/pipe" 2>"$T/export.err" &
READER=$!
PIDS+=("$READER")
check "the export reads the live store inside a read transaction (mdb_stat -r)" \
  wait_until 10 reading "$READER"
sleep 0.5
check "  and stays in it, blocked on its full pipe" reading "$READER"
before=$(grep -c 'stale LMDB reader slots cleared' "$BROKER_LOG")
kill -KILL "$READER"
wait "$READER" 2>/dev/null
exec 3>&-

echo "== 2. the broker clears the dead reader's slot while it runs"
check "the broker logs the slot it cleared (count=1)" wait_for "$BROKER_LOG" "$CLEARED" 5
check_eq "  once" "$(grep -c 'stale LMDB reader slots cleared' "$BROKER_LOG")" "$((before + 1))"
check "the dead reader's slot is gone from the reader table" wait_until 5 no_slot "$READER"
check "the broker still runs" kill -0 "$BROKER_PID"
peer DE send --to FR --count 3 >"$T/send2.out" 2>&1
check_eq "  and accepts (3 more)" "$(field "$T/send2.out" accepted)" 3
peer FR recv --count 403 --timeout 20 >"$T/recv.out" 2>&1
check_eq "  and delivers all 403" "$(field "$T/recv.out" distinct)" 403

echo "== 3. a live reader's slot is left alone"
"$ASYLINK" audit tail --data "$T/data" --follow >"$T/follow.out" 2>"$T/follow.err" &
FOLLOW=$!
PIDS+=("$FOLLOW")
check "audit tail --follow on the live store holds a slot" wait_until 10 has_slot "$FOLLOW"
sleep 3 # three sweeps
check "  still there after three sweeps" has_slot "$FOLLOW"
kill -KILL "$FOLLOW"
wait "$FOLLOW" 2>/dev/null
check "  and cleared once it is killed (-9)" wait_until 5 no_slot "$FOLLOW"

stop_broker
check_eq "the broker stops cleanly (exit 0)" "$?" 0
if [[ $failed -gt 0 ]]; then
  show "$BROKER_LOG"
  show "$T/export.err"
  readers
fi
summary
