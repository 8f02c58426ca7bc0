#!/usr/bin/env bash
# 73-ops-audit-head.sh — a published audit head catches what the chain alone
# cannot: the chain and its signed checkpoints live in the same data
# directory, so an older copy of the store (a restored backup, or a log whose
# newest entries were removed together with the checkpoints covering them)
# verifies on its own. `asylink audit verify --head SEQ:HASH` (the last entry
# and head hash an earlier verify printed):
#   - passes on the log that holds that entry, online and offline, and for
#     an older published head too;
#   - fails (exit 1) on a backup taken before that head, whose own verify
#     passes, naming the first missing entry;
#   - fails on a broker restored from that backup that has written past the
#     published entry since: the entry is there, with another hash;
#   - refuses a malformed SEQ:HASH (exit 2);
# and a broker run with [audit] enabled = false, which the chain cannot show,
# is named (since when) by the STARTED record of the next broker with the
# trail on that store, once.
#
#   tests/integration/73-ops-audit-head.sh ASYLINKD ASYLINK ASYLINK-PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v mdb_copy >/dev/null || { echo "73-ops-audit-head needs mdb_copy (lmdb-utils)" >&2; exit 1; }
make_federation || exit 1

PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_broker_ini "$PORT"
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"
printf '\n[audit]\ncheckpoint_entries = 10\ncheckpoint_interval = 1s\n' >>"$CONF"
cat >"$T/OPS.ini" <<INI
[node]
broker_endpoint = tcp://127.0.0.1:$PORT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/OPS.cert
key_file = $FED/keys/OPS.key
trust_dir = $FED/trust
data_dir = $T/node-OPS
admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT
INI
a() { "$ASYLINK" "$@" </dev/null; }
online() { a audit verify --config "$T/OPS.ini" "$@"; }
offline() {
  local dir=$1
  shift
  a audit verify --data "$dir" --trust "$FED/trust" "$@"
}
# head_of FILE: "SEQ:HASH" of the verify output in FILE (its last entry and head hash).
head_of() {
  local seq hash
  seq=$(sed -n 's/^audit log OK: entries [0-9]*\.\.\([0-9]*\) .*/\1/p' "$1")
  hash=$(sed -n 's/^head hash \([0-9a-f]\{64\}\)$/\1/p' "$1")
  [[ -n $seq && -n $hash ]] && echo "$seq:$hash"
}
# traffic N: N messages DE -> FR, received and acknowledged.
traffic() {
  peer DE send --to FR --count "$1" --timeout 30 >/dev/null 2>&1 &&
    peer FR recv --count "$1" --timeout 30 >/dev/null 2>&1
}

start_broker || exit 1

echo "== a head published early, a backup, a head published later"
traffic 5
online >"$T/v0.out"
check "the first online verify passes" test $? -eq 0
HEAD0=$(head_of "$T/v0.out")
check "it prints the last entry and the head hash ($HEAD0)" test -n "$HEAD0"
sleep 1.5 # a checkpoint covers the backup's last entries
mkdir -m 0700 "$T/backup"
mdb_copy "$T/data" "$T/backup"
check "a backup of the running store (mdb_copy)" test -s "$T/backup/data.mdb"
traffic 20
online >"$T/v1.out"
check "the online verify passes after more traffic" test $? -eq 0
HEAD1=$(head_of "$T/v1.out")
check "it prints a later head ($HEAD1)" test -n "$HEAD1" -a "${HEAD1%%:*}" -gt "${HEAD0%%:*}"

echo "== the log holding the published heads"
online --head "$HEAD1" >"$T/h1.out"
check "online verify --head of the newest published head passes" test $? -eq 0
check "and says the published entry is in the log" \
  grep -q "^published head: entry ${HEAD1%%:*} is in the log with that hash$" "$T/h1.out"
online --head "$HEAD0" >/dev/null
check "online verify --head of an older published head passes" test $? -eq 0
stop_broker
offline "$T/data" --head "$HEAD1" >/dev/null
check "offline verify --head of the published head passes" test $? -eq 0
offline "$T/data" --head "$HEAD0" --json >"$T/h0off.json"
check "offline verify --json --head of the older one passes" test $? -eq 0
check "with ok true" grep -q '"ok": true' "$T/h0off.json"

echo "== the backup: older than the published head"
offline "$T/backup" >"$T/b.out"
check "the backup's own chain verifies (the chain alone cannot tell)" test $? -eq 0
BLAST=$(head_of "$T/b.out")
BLAST=${BLAST%%:*}
check "the backup ends before the published head ($BLAST < ${HEAD1%%:*})" \
  test "${BLAST:-0}" -gt 0 -a "${BLAST:-0}" -lt "${HEAD1%%:*}"
offline "$T/backup" --head "$HEAD1" >"$T/bh.out"
check_eq "offline verify --head of the backup exits 1" "$?" 1
check "naming the first missing entry and why" grep -q "^audit log BROKEN at entry $((BLAST + 1)): entry $((BLAST + 1)) is missing: the log ends at entry $BLAST, before the published head (entry ${HEAD1%%:*}); its newest entries were removed, or this is an older copy of the store$" "$T/bh.out"
offline "$T/backup" --head "$HEAD0" >/dev/null
check "the backup still holds the head published before it was taken" test $? -eq 0

echo "== a broker restored from the backup, written past the published entry"
mv "$T/data" "$T/data.moved"
cp -a "$T/backup" "$T/data"
start_broker || exit 1
traffic 30
online >"$T/r.out"
check "the restored broker's own chain verifies" test $? -eq 0
RLAST=$(head_of "$T/r.out")
check "it has written past the published entry (${RLAST%%:*} > ${HEAD1%%:*})" \
  test "${RLAST%%:*}" -gt "${HEAD1%%:*}"
online --head "$HEAD1" >"$T/rh.out"
check_eq "online verify --head exits 1" "$?" 1
check "naming the published entry: another hash" grep -q "^audit log BROKEN at entry ${HEAD1%%:*}: entry ${HEAD1%%:*} is not the published head: its hash is [0-9a-f]\{64\}; the log was rewritten from there on, or replaced$" "$T/rh.out"
online --head "$HEAD0" >/dev/null
check "the head published before the backup is still in it" test $? -eq 0
stop_broker
offline "$T/data" --head "$HEAD1" >/dev/null
check_eq "offline verify --head of the restored store exits 1 too" "$?" 1

echo "== a run without the trail ([audit] enabled = false) is told by the next STARTED record"
sed -i 's|^checkpoint_interval = 1s$|checkpoint_interval = 1s\nenabled = false|' "$CONF"
start_broker || exit 1
traffic 3
stop_broker
offline "$T/data" >"$T/off.out"
check "the chain verifies: it cannot show the run without it" test $? -eq 0
sed -i '/^enabled = false$/d' "$CONF"
start_broker || exit 1
check "the broker warns of the run without the trail" \
  wait_for "$BROKER_LOG" 'msg="the store was served without the audit trail before" since=' 10
a audit tail --config "$T/OPS.ini" --count 1000 --json >"$T/tail.jsonl"
STARTED=$(jq -r 'select(.type=="record" and .kind_name=="STARTED") | .detail' "$T/tail.jsonl" | tail -n 1)
check "its STARTED record says the store was served without the trail, and since when" \
  grep -qE '^after running without the audit trail \(\[audit\] enabled = false\) since [0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]*Z: no records of what changed meanwhile; asylinkd ' <<<"$STARTED"
stop_broker
start_broker || exit 1
a audit tail --config "$T/OPS.ini" --count 1000 --json >"$T/tail2.jsonl"
STARTED=$(jq -r 'select(.type=="record" and .kind_name=="STARTED") | .detail' "$T/tail2.jsonl" | tail -n 1)
check "the next start with the trail says it no more" grep -q '^asylinkd ' <<<"$STARTED"
online >/dev/null
check "the trail verifies" test $? -eq 0
stop_broker

echo "== malformed heads"
for bad in "${HEAD1%%:*}" "0:${HEAD1#*:}" "${HEAD1%?}" "${HEAD1}0" "-1:${HEAD1#*:}" "${HEAD1}z"; do
  offline "$T/data" --head "$bad" >/dev/null 2>&1
  check_eq "--head '${bad:0:24}...' is a usage error" "$?" 2
done

summary
