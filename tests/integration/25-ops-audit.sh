#!/usr/bin/env bash
# 25-ops-audit.sh — the broker's hash-chained audit trail, end to end:
#   - mixed traffic (direct messages acked, dead letters, an operator's
#     dlq drop, a duplicate, a bad signature, sessions) leaves one record
#     per event: ACCEPTED for exactly the messages DE saw Accepted, ACKED
#     per acknowledgement, DLQ_DROPPED with the operator as actor...;
#   - `asylink audit verify` (online and offline with --data/--trust)
#     passes; `tail` and `export` print it; a short Python program
#     re-computes the whole chain from the export (hashlib only), so the
#     documented format suffices;
#   - flipping one byte of one record inside data.mdb, or deleting one
#     record, makes verify exit 1 naming that entry;
#   - kill -9 in the middle of a stream leaves a chain that verifies, with
#     one ACCEPTED record per message accepted;
#   - retention prunes old entries behind a signed checkpoint and what
#     remains still verifies, online, offline and in Python from the
#     anchor's hash (the online and the offline export); verify --head of
#     the anchor's entry compares the anchor's hash, and a head older than
#     the anchor cannot be checked (exit 1).
#
#   tests/integration/25-ops-audit.sh ASYLINKD ASYLINK ASYLINK-PEER AUDIT-TAMPER
# shellcheck disable=SC2154 # PID_<name> set by peer_bg
TAMPER=${4-}
[[ -n $TAMPER && -x $TAMPER ]] && TAMPER="$(cd "$(dirname "$TAMPER")" && pwd)/$(basename "$TAMPER")"
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || { echo "25-ops-audit needs jq (scripts/test.sh install_deps)" >&2; exit 1; }
lib_init "${@:1:3}"
[[ -x $TAMPER ]] || { echo "usage: $0 ASYLINKD ASYLINK PEER AUDIT-TAMPER" >&2; exit 2; }

make_federation || exit 1
port=$(free_port)
write_broker_ini "$port"
ADMIN_PORT=$(free_port)
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"
sed -i 's|^\[limits\]$|[limits]\nmax_deliveries = 1|' "$CONF"
cat >>"$CONF" <<EOF

[audit]
checkpoint_entries = 40
checkpoint_interval = 1s
EOF
start_broker || exit 1
ADMIN="tcp://127.0.0.1:$ADMIN_PORT"
cat >"$T/OPS.ini" <<INI
[node]
broker_endpoint = $ENDPOINT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/OPS.cert
key_file = $FED/keys/OPS.key
trust_dir = $FED/trust
data_dir = $T/node-OPS
admin_endpoint = $ADMIN
INI
a() { "$ASYLINK" "$@" </dev/null; }
# count_kind FILE KIND [FILTER]: records of KIND in an export (FILTER: extra jq condition).
count_kind() {
  jq -s "[.[] | select(.type==\"record\" and .kind_name==\"$2\" ${3:+and $3})] | length" "$1"
}

echo "== mixed traffic"
N=60
peer DE send --to FR --count $N --ids-out "$T/de.ids" --timeout 60 >"$T/de.out" 2>"$T/de.err"
check_eq "DE: $N accepted" "$(lines "$T/de.ids")" $N
peer FR recv --count $N --ids-out "$T/fr.ids" --timeout 60 >/dev/null 2>"$T/fr.err"
check_eq "FR received and acked $N" "$(lines "$T/fr.ids")" $N
peer DE send --to IT --count 3 --ids-out "$T/de-it.ids" --timeout 30 >/dev/null 2>&1
peer IT recv --count 3 --no-ack --timeout 30 >/dev/null 2>&1
for _ in $(seq 50); do
  a dlq list --config "$T/OPS.ini" --json >"$T/dlq.json" 2>/dev/null
  [[ $(jq .total "$T/dlq.json" 2>/dev/null) == 3 ]] && break
  sleep 0.2
done
check_eq "IT's 3 unacknowledged deliveries are dead letters" "$(jq .total "$T/dlq.json")" 3
DL=$(jq '.entries[0].id' "$T/dlq.json")
a dlq drop --config "$T/OPS.ini" --node IT "$DL" >/dev/null 2>&1
check_eq "OPS drops one dead letter" "$?" 0
got=$(peer DE hostile --case replay --to FR --timeout 10 2>/dev/null)
check_eq "a resent message is a duplicate" "$got" "ACCEPTED DUPLICATE"
got=$(peer DE hostile --case bad-signature --to FR --timeout 10 2>/dev/null)
check_eq "a bad signature is rejected" "$got" "REJECTED BAD_SIGNATURE"
sleep 1.5 # the notes of the last turn and a checkpoint by time

echo "== verify, tail, export (online)"
a audit verify --config "$T/OPS.ini" >"$T/verify.out" 2>"$T/verify.err"
check_eq "audit verify exits 0" "$?" 0
check "it says OK with signed checkpoints" grep -qE 'audit log OK: .* [1-9][0-9]* signed checkpoints? verified' "$T/verify.out"
a audit tail --config "$T/OPS.ini" --count 5 >"$T/tail.out" 2>"$T/tail.err"
check_eq "audit tail --count 5 prints 5 lines" "$(lines "$T/tail.out")" 5
a audit export --config "$T/OPS.ini" --out "$T/export.jsonl" 2>"$T/export.err"
check_eq "audit export exits 0" "$?" 0
check_eq "the export file is the operator's alone (0600)" "$(stat -c %a "$T/export.jsonl")" 600
check "every line is JSON (jq)" jq -e . "$T/export.jsonl" >/dev/null
cp "$T/export.jsonl" "$T/export.orig"
a audit export --config "$T/OPS.ini" --out "$T/export.jsonl" >/dev/null 2>"$T/export-again.err"
check_eq "audit export onto an existing file is refused (exit 1)" "$?" 1
check_eq "... in the CLI's error form, saying what to do" "$(cat "$T/export-again.err")" \
  "asylink: $T/export.jsonl: EXISTS: it exists already: not overwritten (remove it, or choose another name)"
check "... and the file is left as it was" cmp -s "$T/export.jsonl" "$T/export.orig"
a audit export --config "$T/OPS.ini" --out "$T/no-such-dir/export.jsonl" >/dev/null 2>"$T/export-nodir.err"
check_eq "audit export into a missing directory fails (exit 1)" "$?" 1
check_eq "... naming the file and the cause" "$(cat "$T/export-nodir.err")" \
  "asylink: $T/no-such-dir/export.jsonl: IO: cannot create: No such file or directory"
LAST=$(jq -s '[.[] | select(.type=="record")] | last | .seq' "$T/export.jsonl")
check_eq "the export holds every entry 1..$LAST" \
  "$(jq -s '[.[] | select(.type=="record") | .seq] == [range(1; '"$LAST"' + 1)]' "$T/export.jsonl")" true
check_ge "and signed checkpoints" "$(jq -s '[.[] | select(.type=="checkpoint")] | length' "$T/export.jsonl")" 1
jq -r 'select(.type=="record" and .kind_name=="ACCEPTED" and .sender=="DE") | .message_uuid | gsub("-";"")' \
  "$T/export.jsonl" | sort >"$T/accepted-records.ids"
check_eq "a record's message_id is UUID text, as recv --json spells it (message_uuid the same)" \
  "$(jq -s '[.[] | select(.type=="record" and .message_uuid != null) | .message_id == .message_uuid] | (length > 0 and all)' "$T/export.jsonl")" true
cat "$T/de.ids" "$T/de-it.ids" | sort >"$T/de-all.ids"
check "ACCEPTED records name exactly the messages DE saw Accepted (+ the replay probe)" \
  subset "$T/de-all.ids" "$T/accepted-records.ids"
check_eq "one ACCEPTED record per accepted message" \
  "$(sort -u "$T/accepted-records.ids" | wc -l | tr -d ' ')" "$(lines "$T/accepted-records.ids")"
check_eq "ACCEPTED records: DE's $((N + 3)) and the replay probe" \
  "$(lines "$T/accepted-records.ids")" $((N + 4))
check_eq "one DUPLICATE record" "$(count_kind "$T/export.jsonl" DUPLICATE)" 1
check_eq "one REJECTED record, BAD_SIGNATURE" \
  "$(count_kind "$T/export.jsonl" REJECTED '.code=="ERROR_CODE_BAD_SIGNATURE"')" 1
check_eq "FR's $N acks are ACKED records" "$(count_kind "$T/export.jsonl" ACKED '.actor=="FR"')" $N
check_ge "deliveries are DELIVERED records" "$(count_kind "$T/export.jsonl" DELIVERED)" $((N + 3))
check_eq "3 DEAD_LETTERED records for IT" "$(count_kind "$T/export.jsonl" DEAD_LETTERED '.recipients==["IT"]')" 3
check_eq "the drop is a DLQ_DROPPED record by the operator" \
  "$(count_kind "$T/export.jsonl" DLQ_DROPPED '.actor=="OPS"')" 1
check_ge "operator requests are ADMIN records" \
  "$(count_kind "$T/export.jsonl" ADMIN '.actor=="OPS" and .request=="dead_letter_drop"')" 1
check_ge "sessions: CONNECTED records with the certificate serial" \
  "$(count_kind "$T/export.jsonl" CONNECTED '.actor=="FR" and .actor_cert_serial > 0')" 1
check_eq "the broker's start is recorded" "$(count_kind "$T/export.jsonl" STARTED)" 1
check "no record carries a payload (records stay small)" \
  jq -e -s '[.[] | select(.type=="record") | .record_b64 | length] | max < 2000' "$T/export.jsonl"
# An independent check of the documented format: Python's hashlib only.
cat >"$T/rechain.py" <<'PY'
import base64, hashlib, json, struct, sys
lines = [json.loads(line) for line in open(sys.argv[1])]
anchors = {j["seq"]: bytes.fromhex(j["entry_hash"]) for j in lines if j["type"] == "checkpoint"}
first = min(j["seq"] for j in lines if j["type"] == "record")
prev = bytes(32) if first == 1 else anchors[first - 1]  # a pruned log: its signed anchor
n = 0
for j in lines:
    if j["type"] != "record":
        continue
    rec = base64.b64decode(j["record_b64"])
    h = hashlib.blake2b(b"asylink.audit.entry.v1" + prev + struct.pack(">I", len(rec)) + rec,
                        digest_size=32).digest()
    if h.hex() != j["hash"] or j.get("prev_hash", prev.hex()) != prev.hex():
        print("BROKEN", j["seq"]); sys.exit(1)
    prev = h; n += 1
print("CHAIN OK", n)
PY
check_eq "Python re-computes the chain from the export" \
  "$(python3 "$T/rechain.py" "$T/export.jsonl")" "CHAIN OK $LAST"

stop_broker
check_eq "the broker stops cleanly" "$?" 0

echo "== offline (a copy of the data directory)"
cp -r "$T/data" "$T/copy"
a audit verify --data "$T/copy" --trust "$FED/trust" >"$T/v-off.out" 2>"$T/v-off.err"
check_eq "offline verify exits 0" "$?" 0
check "OK" grep -q 'audit log OK' "$T/v-off.out"
a audit export --data "$T/copy" --out "$T/export-off.jsonl" 2>/dev/null
check_eq "the stop is recorded" "$(count_kind "$T/export-off.jsonl" STOPPED)" 1
STOP_LAST=$(jq -s '[.[] | select(.type=="record")] | last | .seq' "$T/export-off.jsonl")
check_eq "a signed checkpoint covers the last entry at stop" \
  "$(jq -s '[.[] | select(.type=="checkpoint")] | last | .seq' "$T/export-off.jsonl")" "$STOP_LAST"
check "offline export starts like the online one" \
  bash -c "diff <(jq -c 'select(.type==\"record\") | [.seq,.hash]' '$T/export.jsonl') \
    <(jq -c 'select(.type==\"record\") | [.seq,.hash]' '$T/export-off.jsonl' | head -n $LAST)"
a audit verify --data "$T/copy" >/dev/null 2>&1
check_eq "offline verify without --trust is a usage error" "$?" 2

echo "== tampering"
K=$(jq -s '[.[] | select(.type=="record" and .kind_name=="ACCEPTED")][5].seq' "$T/export.jsonl")
cp -r "$T/data" "$T/flip"
"$TAMPER" "$T/flip" flip "$K" >"$T/tamper.out" 2>&1
check_eq "a byte of entry $K flipped in data.mdb" "$?" 0
a audit verify --data "$T/flip" --trust "$FED/trust" >"$T/v-flip.out" 2>&1
check_eq "verify exits 1" "$?" 1
check "and names entry $K" grep -q "BROKEN at entry $K:" "$T/v-flip.out"
D=$((K + 7))
cp -r "$T/data" "$T/del"
"$TAMPER" "$T/del" delete "$D" >/dev/null 2>&1
check_eq "entry $D deleted" "$?" 0
a audit verify --data "$T/del" --trust "$FED/trust" >"$T/v-del.out" 2>&1
check_eq "verify exits 1" "$?" 1
check "and names entry $D as missing" grep -q "BROKEN at entry $D: entry $D is missing" "$T/v-del.out"
cp -r "$T/data" "$T/tail"
"$TAMPER" "$T/tail" delete "$STOP_LAST" >/dev/null 2>&1
a audit verify --data "$T/tail" --trust "$FED/trust" >"$T/v-tail.out" 2>&1
check_eq "deleting the last entry (covered by the stop checkpoint) fails too" "$?" 1
check "naming it" grep -q "BROKEN at entry $STOP_LAST" "$T/v-tail.out"

echo "== kill -9 in the middle of a stream"
start_broker || exit 1
peer_bg fr FR recv --count 100000 --window 500 --timeout 60
peer_bg de DE send --to FR --count 100000 --size 100 --window 200 --rate 3000 \
  --ids-out "$T/stream.accepted" --sent-out "$T/stream.sent" --timeout 60
sleep 1.5
kill9_broker
kill -KILL "$PID_de" "$PID_fr" 2>/dev/null
wait "$PID_de" "$PID_fr" 2>/dev/null
ACC=$(lines "$T/stream.accepted")
echo "killed the broker: DE saw $ACC Accepted"
check_ge "DE saw messages Accepted before the crash" "$ACC" 1
a audit verify --data "$T/data" --trust "$FED/trust" >"$T/v-crash.out" 2>&1
check_eq "the chain verifies after kill -9" "$?" 0
a audit export --data "$T/data" --from "$((STOP_LAST + 1))" --out "$T/crash.jsonl" 2>/dev/null
jq -r 'select(.type=="record" and .kind_name=="ACCEPTED") | .message_uuid | gsub("-";"")' \
  "$T/crash.jsonl" | sort >"$T/crash-records.ids"
check "every message DE saw Accepted has its ACCEPTED record" \
  subset "$T/stream.accepted" "$T/crash-records.ids"
check_eq "exactly one each" "$(sort -u "$T/crash-records.ids" | wc -l | tr -d ' ')" \
  "$(lines "$T/crash-records.ids")"
check "ACCEPTED records only for messages DE sent" subset "$T/crash-records.ids" "$T/stream.sent"
start_broker || exit 1
a audit verify --config "$T/OPS.ini" >"$T/v-restart.out" 2>&1
check_eq "after the restart the broker continues the chain (verify online)" "$?" 0
STORED=$(a audit export --config "$T/OPS.ini" --from "$((STOP_LAST + 1))" 2>/dev/null |
  jq -s '[.[] | select(.type=="record" and .kind_name=="STARTED")] | length')
check_eq "two starts since the first stop" "$STORED" 2
stop_broker

echo "== retention"
sed -i 's|^checkpoint_interval = 1s$|checkpoint_interval = 1s\nretention = 2s|' "$CONF"
sed -i 's|^\[store\]$|[store]\nsweep_interval = 200ms|' "$CONF"
start_broker || exit 1
sleep 3
peer DE send --to FR --count 5 --timeout 30 >/dev/null 2>&1
sleep 1
a audit verify --config "$T/OPS.ini" >"$T/v-ret.out" 2>&1
check_eq "after pruning the log still verifies" "$?" 0
check "from a signed anchor" grep -q 'anchor: checkpoint of entry' "$T/v-ret.out"
a audit export --config "$T/OPS.ini" --out "$T/ret.jsonl" 2>/dev/null
FIRST=$(jq -s '[.[] | select(.type=="record")] | first | .seq' "$T/ret.jsonl")
check_ge "old entries are gone (first kept: $FIRST)" "$FIRST" 2
check_ge "the pruning is recorded" "$(count_kind "$T/ret.jsonl" PRUNED)" 1
check_eq "the export starts with the anchor checkpoint" \
  "$(jq -s '[.[] | select(.type=="checkpoint")] | first | .seq' "$T/ret.jsonl")" $((FIRST - 1))
check_eq "Python re-computes the pruned chain from its anchor" \
  "$(python3 "$T/rechain.py" "$T/ret.jsonl" | cut -d' ' -f1-2)" "CHAIN OK"
stop_broker
cp -r "$T/data" "$T/ret-copy"
a audit verify --data "$T/ret-copy" --trust "$FED/trust" >/dev/null 2>&1
check_eq "and offline" "$?" 0
a audit export --data "$T/ret-copy" --out "$T/ret-off.jsonl" 2>/dev/null
check_eq "the offline export of a pruned log starts from its anchor (Python)" \
  "$(python3 "$T/rechain.py" "$T/ret-off.jsonl" | cut -d' ' -f1-2)" "CHAIN OK"
# a published head on a pruned log (verify --head): its anchor checkpoint stands for its entry
ANCHOR=$(jq -r -s '[.[] | select(.type=="checkpoint")] | first | "\(.seq):\(.entry_hash)"' \
  "$T/ret-off.jsonl")
a audit verify --data "$T/ret-copy" --trust "$FED/trust" --head "$ANCHOR" >"$T/v-anchor.out" 2>&1
check_eq "verify --head of the anchor's entry (${ANCHOR%%:*}) passes" "$?" 0
ZEROS=$(printf '0%.0s' $(seq 64))
a audit verify --data "$T/ret-copy" --trust "$FED/trust" --head "${ANCHOR%%:*}:$ZEROS" >/dev/null 2>&1
check_eq "the anchor's hash is compared: another one fails" "$?" 1
a audit verify --data "$T/ret-copy" --trust "$FED/trust" --head "1:${ANCHOR#*:}" >"$T/v-old.out" 2>&1
check_eq "a head older than the anchor cannot be checked: exit 1" "$?" 1
check "and says so" grep -q "the published head (entry 1) cannot be checked: the log was pruned" "$T/v-old.out"
# the sweep may have pruned more before the stop: the copy's own first entry
FIRST=$(a audit export --data "$T/ret-copy" 2>/dev/null |
  jq -s '[.[] | select(.type=="record")] | first | .seq')
"$TAMPER" "$T/ret-copy" delete "$FIRST" >/dev/null 2>&1
check_eq "the first kept entry ($FIRST) deleted" "$?" 0
a audit verify --data "$T/ret-copy" --trust "$FED/trust" >"$T/v-ret-del.out" 2>&1
check_eq "deleting the first kept entry is caught" "$?" 1
check "naming it" grep -q "BROKEN at entry $FIRST" "$T/v-ret-del.out"

echo "== usage"
a audit verify >/dev/null 2>&1
check_eq "no source: exit 2" "$?" 2
a audit export --data "$T/copy" --from 5 --to 3 >/dev/null 2>&1
check_eq "--from after --to: exit 2" "$?" 2
a audit tail --data "$T/nonexistent" >/dev/null 2>&1
check_eq "a missing data directory: exit 1" "$?" 1
summary
