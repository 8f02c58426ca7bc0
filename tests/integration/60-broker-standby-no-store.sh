#!/usr/bin/env bash
# A standby never creates a store (DESIGN-CHANGES 49). A serves on $T/data,
# B stands by. The directory is moved aside (a restore) and A stops: B must
# not create an empty $T/data and serve it (messages queued in the real store
# would be invisible), but log an ERROR naming the path and keep standing by.
# It does not take over the copy a restore puts back either (it could be
# half-written) until an asylinkd has served it: C is started on it, and
# when C is killed (-9) B takes over with A's messages. A standby on a data
# directory that does not exist yet (a file system not mounted), on an empty
# directory (a bare mount point) or on an empty data.mdb creates nothing,
# and stops cleanly; a plain start still creates a new store. Meanwhile
# /healthz tells such a standby from one that could take over: 503
# "standby-no-store", not "standby" (DESIGN-CHANGES 56), and
# contrib/asylinkd-healthz exits 4 for it.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini

# stop_named NAME: SIGTERM, then checks it stopped cleanly.
stop_named() {
  local pid_var="PID_$1"
  kill -TERM "${!pid_var}"
  wait_pid "${!pid_var}" 15
  check_eq "$1 stops cleanly (exit 0)" "$?" 0
}
REFUSED='level=error comp=main msg="standby refuses to take over: no store in the data directory'

echo "== 1. the data directory moved aside while A runs (a restore), then A stops"
named A
named B
named C
with_http B
start_named A
wait_for "$T/A.out" 'listening on' 10 || { show "$T/A.err"; exit 1; }
on A DE send --to IT --count 2 --timeout 10 >"$T/a1.out" 2>&1
check_eq "A serves: 2 accepted, queued for IT" "$(field "$T/a1.out" accepted)" 2
start_named B --standby
check "B stands by" wait_for "$T/B.out" 'standing by for ' 10
check "  /healthz: standby (503)" healthz_is B "standby 503" 5

mv "$T/data" "$T/data.old"
kill -TERM "$PID_A"
wait_pid "$PID_A" 15
check "B refuses to take over: ERROR naming the path and the reason" \
  wait_for "$T/B.err" "$REFUSED.* path=$T/data/data.mdb reason=\"no such directory\" code=NOT_FOUND hint=" 10
sleep 1 # B looks every 100 ms
check "  and creates no data directory" bash -c "[ ! -e '$T/data' ]"
check "  and serves nothing" bash -c "! grep -q 'listening on' '$T/B.out'"
check "  but keeps standing by" kill -0 "$PID_B"
check_eq "  /healthz: standby-no-store (503), not standby" "$(healthz B)" "standby-no-store 503"
check_eq "  /metrics: asylink_failover_blocked 1" "$(http_metric "127.0.0.1:$HTTP_B" asylink_failover_blocked)" 1
"$SOURCE_ROOT/contrib/asylinkd-healthz" "http://127.0.0.1:$HTTP_B/healthz" >"$T/contrib.out" 2>&1
check_eq "  contrib/asylinkd-healthz exits 4" "$?" 4
check_eq "  ... and prints it" "$(cat "$T/contrib.out")" "standby-no-store"

mkdir -m 700 "$T/data"
cp "$T/data.old/data.mdb" "$T/data/"
sleep 1
check "B does not take over the restored copy nobody serves yet" \
  bash -c "! grep -q 'listening on' '$T/B.out'"
check "  nor opens it" bash -c "! ls -l /proc/$PID_B/fd 2>/dev/null | grep -q 'mdb'"
start_named C
check "C, started on the restored store, serves" wait_for "$T/C.out" 'listening on' 10
check "B stands by for C" \
  wait_for "$T/B.err" 'msg="an asylinkd holds the data directory again; standing by for it"' 10
check "  /healthz: standby (503) again" healthz_is B "standby 503" 5
kill -KILL "$PID_C"
wait "$PID_C" 2>/dev/null
check "B takes over when C is killed (-9)" wait_for "$T/B.out" 'listening on ' 15
check "  /healthz: ok (200)" healthz_is B "ok 200" 5
check_eq "  /metrics: asylink_failover_blocked 0" "$(http_metric "127.0.0.1:$HTTP_B" asylink_failover_blocked)" 0
on B IT recv --count 2 --timeout 10 >"$T/it.out" 2>&1
check_eq "IT receives the 2 messages A had queued, from B" "$(field "$T/it.out" distinct)" 2
stop_named B

echo "== 2. a data directory that does not exist yet (not mounted)"
named D "$T/unmounted"
with_http D
start_named D --standby
check "D stands by" wait_for "$T/D.out" 'standing by for ' 10
check "  logging the refusal (no such directory)" \
  wait_for "$T/D.err" "$REFUSED.* reason=\"no such directory\"" 10
check "  /healthz: standby-no-store (503)" healthz_is D "standby-no-store 503" 5
sleep 1
check "  creating nothing" bash -c "[ ! -e '$T/unmounted' ]"
stop_named D
check "  (still nothing after it stopped)" bash -c "[ ! -e '$T/unmounted' ]"

echo "== 3. an empty directory (a bare mount point), and an empty data.mdb"
mkdir -m 700 "$T/mountpoint"
named E "$T/mountpoint"
start_named E --standby
check "E logs the refusal (no data.mdb)" wait_for "$T/E.err" "$REFUSED.* reason=\"no data.mdb\"" 10
sleep 1
check "  and leaves the directory empty" bash -c "[ -z \"\$(ls -A '$T/mountpoint')\" ]"
stop_named E
mkdir -m 700 "$T/zero"
: >"$T/zero/data.mdb"
named F "$T/zero"
start_named F --standby
check "F logs the refusal (data.mdb is empty)" \
  wait_for "$T/F.err" "$REFUSED.* reason=\"data.mdb is empty\"" 10
sleep 1
check "  and leaves it empty, opened by no one" bash -c "[ ! -s '$T/zero/data.mdb' ] && [ ! -e '$T/zero/lock.mdb' ]"
stop_named F

echo "== 4. a plain start still creates a new store"
named G "$T/new"
start_named G
check "G serves on a new data directory" wait_for "$T/G.out" 'listening on' 10
check "  having created it" bash -c "[ -s '$T/new/data.mdb' ]"
stop_named G
if [[ $failed -gt 0 ]]; then
  for f in A B C D E F G; do show "$T/$f.err"; done
fi
summary
