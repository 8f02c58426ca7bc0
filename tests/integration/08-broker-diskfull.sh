#!/usr/bin/env bash
# 08-broker-diskfull.sh — full disks under load, on real small file systems
# (tmpfs mounted for the test; skipped, exit 77, only where mounting is
# impossible: not root, or no CAP_SYS_ADMIN):
#
# 1. The broker's data directory (an 8 MiB tmpfs, the LMDB map 64 MiB) is
#    filled by DE streaming 32 KiB messages to FR: the broker answers
#    STORE_FULL (retryable), never IO, once only its reserve for acks is
#    left, and keeps running; killed (-9) and restarted on the full disk it
#    comes up; mdb_stat counts exactly the accepted messages and mdb_dump
#    reads every page; a libasylink sender's messages stay in its outbox
#    (not dropped) while the broker is full; a file filling the disk to
#    100% (the reserve too) neither stops the broker nor its deliveries;
#    once it is gone, FR receives every accepted message intact (its acks
#    free space); then the broker accepts again: the waiting outbox drains
#    and new sends go through.
# 2. A sending client's data directory (a 3 MiB tmpfs) fills while the
#    broker is down: asylink_send() returns STORE_FULL (an error, not a
#    silent drop); once the broker is back the outbox drains, sending works
#    again (sent_retention = 0: no envelope kept as evidence), and every
#    message whose send returned OK arrives, intact.
# 3. A receiving client's data directory (a 4 MiB tmpfs) fills with
#    deliveries its application has not acknowledged: the library keeps the
#    session and holds the deliveries (the broker counts no failed attempt,
#    nothing goes to the dead letters); as the application acknowledges,
#    everything is stored and handed over, each message once.
#
#   tests/integration/08-broker-diskfull.sh ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT
# shellcheck disable=SC2119,SC2154
# In a mount namespace of its own where possible: the tmpfs mounts vanish
# with the test's processes even if it is killed before its cleanup runs.
if [[ -z ${ASYLINK_MOUNT_NS-} ]] && unshare --mount --propagation private true 2>/dev/null; then
  ASYLINK_MOUNT_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/client_lib.sh"
if [[ $# -ne 4 || ! -x $4 ]]; then
  echo "usage: $0 ASYLINKD ASYLINK ASYLINK-PEER SOAK_CLIENT" >&2
  exit 2
fi
SOAK="$(cd "$(dirname "$4")" && pwd)/$(basename "$4")"
lib_init "$1" "$2" "$3"

MOUNTS=()
# tmpfs_at DIR SIZE: a fresh tmpfs of SIZE at DIR (mode 0700), unmounted on exit.
tmpfs_at() {
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" 2>"$T/mount.err" || return 1
  MOUNTS+=("$1")
}
cleanup() {
  local pid m
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  PIDS=()
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m"; done
  lib_cleanup
}
trap cleanup EXIT

if ! tmpfs_at "$T/data" 8m; then
  echo "SKIP: cannot mount a tmpfs here ($(id -un), $(tr -d '\n' <"$T/mount.err")): this test needs root with CAP_SYS_ADMIN"
  exit 77
fi
command -v mdb_stat >/dev/null && command -v mdb_dump >/dev/null ||
  { echo "mdb_stat/mdb_dump missing: install lmdb-utils" >&2; exit 1; }

make_federation || exit 1
PORT=$(stable_port) || exit 1
write_broker_ini "$PORT"
for n in DE IT FR EUAA; do write_node_ini "$n"; done

# entries DB [DIR]: mdb_stat's entry count of a broker database.
entries() { mdb_stat -s "$1" "${2:-$T/data}" 2>/dev/null | sed -n 's/^ *Entries: *//p'; }
# used_pct DIR: how full the file system at DIR is.
used_pct() { df -P "$1" | awk 'NR == 2 { sub("%", "", $5); print $5 }'; }
# okids LOG OUT: the ids whose send returned OK; gotids LOG OUT: those handed over.
okids() { awk '$1 == "ok" { print $4 }' "$1" | sort -u >"$2"; }
gotids() { awk '$1 == "got" { print $2 }' "$1" | sort -u >"$2"; }

echo "== 1. the broker's disk fills"
start_broker || exit 1
peer DE send --to FR --count 400 --size 32768 --window 50 --ids-out "$T/acc1" --sent-out "$T/sent1" \
  --timeout 10 >"$T/fill.out" 2>"$T/fill.err"
acc1=$(lines "$T/acc1")
echo "DE: $(grep '^sent=' "$T/fill.out"); disk $(used_pct "$T/data")% used"
check_ge "the broker accepted messages before the disk filled" "$acc1" 1
check "not all 400 fit: the disk filled" test "$acc1" -lt 400
check_ge "the disk is nearly full (the broker keeps a 2 MiB reserve for acks)" "$(used_pct "$T/data")" 70
check "the broker answered STORE_FULL (retryable)" grep -q 'Rejected STORE_FULL (retryable)' "$T/fill.err"
check "never IO" test -z "$(grep 'Rejected IO' "$T/fill.err")"
check "the broker still runs" kill -0 "$BROKER_PID"
check "the broker logged the full store" grep -q 'store full: publishes refused' "$BROKER_LOG"
check_eq "mdb_stat: one queue entry per accepted message" "$(entries queue)" "$acc1"
check_eq "mdb_stat: one message record per accepted message" "$(entries msgs)" "$acc1"

kill9_broker
start_broker || { fail "the broker restarts on the full disk after SIGKILL"; summary; }
pass "the broker restarts on the full disk after SIGKILL"
check_eq "after the restart, mdb_stat still counts every accepted message" "$(entries queue)" "$acc1"
check "mdb_dump reads every page of the store" mdb_dump -a "$T/data"

# A libasylink sender meanwhile: its sends succeed (outbox), the broker refuses them.
"$SOAK" --config "$T/IT.ini" produce --to EUAA --tag IT.1 --log "$T/IT.plog" --count 40 \
  --min-size 65536 --max-size 65536 --rate 0 --timeout 60 >"$T/it1.out" 2>>"$T/IT.err"
check_eq "IT: all 40 asylink_send() calls return OK (into the outbox)" "$(field "$T/it1.out" sent)" 40
"$SOAK" --config "$T/IT.ini" flush --timeout 3 >"$T/itflush1.out" 2>>"$T/IT.err"
check_ge "IT: while the broker is full its messages stay pending in the outbox" \
  "$(field "$T/itflush1.out" pending)" 1

# Another process takes the rest of the disk, the broker's reserve too: the
# broker keeps running and delivering (a write that fails with ENOSPC, or
# with LMDB's EIO for a short write, is STORE_FULL, not fatal).
dd if=/dev/zero of="$T/data/filler" bs=64k 2>/dev/null
check_eq "a filler file took the rest of the broker's disk" "$(used_pct "$T/data")" 100
peer FR recv --count "$acc1" --no-ack --ids-out "$T/got0" --timeout 4 >"$T/recv0.out" 2>"$T/recv0.err"
check_ge "FR: deliveries go on with the disk 100% full" "$(field "$T/recv0.out" distinct)" 1
"$SOAK" --config "$T/IT.ini" flush --timeout 2 >/dev/null 2>>"$T/IT.err"
check "the broker still runs with the disk 100% full" kill -0 "$BROKER_PID"
check "no fatal store error" test -z "$(grep 'commit failed' "$BROKER_LOG")"
rm -f "$T/data/filler"

# FR drains: deliveries and acks work on the full store, and free it.
peer FR recv --count "$acc1" --ids-out "$T/got1" --timeout 60 >"$T/recv1.out" 2>"$T/recv1.err"
echo "FR: $(grep '^received=' "$T/recv1.out")"
check_eq "FR: every accepted message delivered" "$(field "$T/recv1.out" distinct)" "$acc1"
check_eq "FR: intact (payload bytes as sent)" "$(field "$T/recv1.out" bad)" 0
check "FR: the delivered ids are exactly the accepted ones" same_set "$T/got1" "$T/acc1"
check "IT: once FR's acks freed space, its outbox drains" \
  "$SOAK" --config "$T/IT.ini" flush --timeout 60
"$SOAK" --config "$T/EUAA.ini" consume --log "$T/EUAA.clog" --count 40 --timeout 60 \
  >"$T/euaa1.out" 2>>"$T/EUAA.err"
check_eq "EUAA: all 40 arrive intact" "$(field "$T/euaa1.out" received)/$(field "$T/euaa1.out" bad)" 40/0
okids "$T/IT.plog" "$T/it.ok"
gotids "$T/EUAA.clog" "$T/euaa.got"
check "EUAA: exactly the ids IT's sends returned" same_set "$T/it.ok" "$T/euaa.got"
peer DE send --to FR --count 20 --size 32768 --ids-out "$T/acc2" --timeout 30 >"$T/fill2.out" 2>"$T/fill2.err"
check_eq "the broker accepts again: 20 more from DE" "$(field "$T/fill2.out" accepted)" 20
check "the broker logged that it accepts again" grep -q 'store accepts publishes again' "$BROKER_LOG"
peer FR recv --count 20 --ids-out "$T/got2" --timeout 30 >"$T/recv2.out" 2>/dev/null
check "FR: and receives them" same_set "$T/got2" "$T/acc2"
check "the broker never exited by itself" kill -0 "$BROKER_PID"

echo "== 2. a sending client's disk fills (broker down)"
tmpfs_at "$T/node-EUAA2" 3m || { fail "mount a second tmpfs"; summary; }
sed "s|data_dir = .*|data_dir = $T/node-EUAA2|" "$T/EUAA.ini" >"$T/EUAA2.ini"
# Sent envelopes are not kept as evidence here (sent_retention = 0): what
# the broker accepted leaves the outbox, so the disk frees up again.
echo "sent_retention = 0" >>"$T/EUAA2.ini"
stop_broker
"$SOAK" --config "$T/EUAA2.ini" produce --to IT --tag EUAA.1 --log "$T/EUAA.plog" --count 1000 \
  --min-size 16384 --max-size 16384 --batch-max 1 --rate 0 --until-error --timeout 60 \
  >"$T/eu1.out" 2>>"$T/EUAA.err"
echo "EUAA: $(tr '\n' ' ' <"$T/eu1.out"); disk $(used_pct "$T/node-EUAA2")% used"
check_eq "EUAA: asylink_send() returns STORE_FULL once its disk is full" \
  "$(field "$T/eu1.out" send_error)" STORE_FULL
check_ge "EUAA: sends before that returned OK" "$(field "$T/eu1.out" sent)" 1
"$SOAK" --config "$T/EUAA2.ini" produce --to IT --tag EUAA.2 --log "$T/EUAA.plog" --count 1 \
  --min-size 16384 --max-size 16384 --rate 0 --until-error --timeout 60 >"$T/eu2.out" 2>>"$T/EUAA.err"
check_eq "EUAA: the next send fails too (nothing half-stored)" "$(field "$T/eu2.out" send_error)" STORE_FULL
start_broker || { fail "the broker starts again"; summary; }
check "EUAA: the broker back, its full outbox drains" \
  "$SOAK" --config "$T/EUAA2.ini" flush --timeout 60
"$SOAK" --config "$T/EUAA2.ini" produce --to IT --tag EUAA.3 --log "$T/EUAA.plog" --count 5 \
  --rate 0 --timeout 60 >"$T/eu3.out" 2>>"$T/EUAA.err"
check_eq "EUAA: sending works again once the outbox is drained" "$(field "$T/eu3.out" sent)" 5
check "EUAA: and drains" "$SOAK" --config "$T/EUAA2.ini" flush --timeout 60
okids "$T/EUAA.plog" "$T/euaa.ok"
n_ok=$(lines "$T/euaa.ok")
"$SOAK" --config "$T/IT.ini" consume --log "$T/IT.clog" --count "$n_ok" --timeout 60 \
  >"$T/it2.out" 2>>"$T/IT.err"
check_eq "IT: every message whose send returned OK arrives ($n_ok), intact" \
  "$(field "$T/it2.out" received)/$(field "$T/it2.out" bad)" "$n_ok/0"
gotids "$T/IT.clog" "$T/it.got"
check "IT: exactly those ids" same_set "$T/euaa.ok" "$T/it.got"

echo "== 3. a receiving client's disk fills"
# The broker now on an ordinary directory: only FR's disk is small here.
stop_broker
sed "s|^data_dir = .*|data_dir = $T/data3|" "$CONF" >"$T/broker3.ini"
start_broker "$T/broker3.ini" || { fail "a broker on an ordinary data directory starts"; summary; }
tmpfs_at "$T/node-FR" 4m || { fail "mount a third tmpfs"; summary; }
"$SOAK" --config "$T/DE.ini" produce --to FR --tag DE.1 --log "$T/DE.plog" --count 300 \
  --min-size 8192 --max-size 32768 --rate 0 --timeout 60 >"$T/de1.out" 2>>"$T/DE.err"
check "DE: 300 sent and accepted" "$SOAK" --config "$T/DE.ini" flush --timeout 60
# FR's application takes nothing for a while: its inbox fills the disk.
"$SOAK" --config "$T/FR.ini" consume --log "$T/FR.noack" --no-ack --count 300 --timeout 6 \
  >"$T/fr0.out" 2>>"$T/FR.err"
echo "FR (not acknowledging): $(cat "$T/fr0.out"); disk $(used_pct "$T/node-FR")% used"
check "FR: the library held deliveries when its disk was full" \
  grep -q 'local store full: deliveries held' "$T/FR.err"
check_eq "FR: the broker dead-lettered nothing" "$(entries dlq "$T/data3")" 0
"$SOAK" --config "$T/FR.ini" consume --log "$T/FR.clog" --count 300 --timeout 90 \
  >"$T/fr1.out" 2>>"$T/FR.err"
check_eq "FR: acknowledging, all 300 arrive intact" \
  "$(field "$T/fr1.out" received)/$(field "$T/fr1.out" bad)/$(field "$T/fr1.out" ack_errors)" 300/0/0
okids "$T/DE.plog" "$T/de.ok"
gotids "$T/FR.clog" "$T/fr.got"
check "FR: exactly the ids DE's sends returned (300 handed over: each once)" same_set "$T/de.ok" "$T/fr.got"
check_eq "FR: still nothing dead-lettered" "$(entries dlq "$T/data3")" 0
check_eq "FR: one session per run: the full disk ended none" \
  "$(grep -c 'session opened" node=FR ' "$BROKER_LOG")" 2
[[ $failed -eq 0 ]] || { show "$BROKER_LOG" "broker stderr"; show "$T/FR.err" "FR stderr"; }
summary
