#!/usr/bin/env bash
# 80-ops-erasure-reasons.sh — a recipient's free-text refusal reason does
# not outlive the erasure of its message (DESIGN-CHANGES 66), through real
# processes:
#   - DE sends FR a direct message and publishes a feed message; FR (a raw
#     protocol peer, as an application may write it) Nacks the direct one
#     to retry, then to the dead letters, and Nacks the feed delivery, each
#     time with a reason naming a person;
#   - the dead letter keeps the reason (`asylink dlq list`); the NACKED and
#     DEAD_LETTERED records (direct and feed) keep the code, the reason's
#     size and its BLAKE2b-256 digest, which Python's hashlib recomputes
#     from the text, and never the text (export, `audit tail`); the broker's
#     log never holds it; `asylink audit reason-digest` recomputes the
#     digest from the text;
#   - after `asylink purge` of both messages the reason is in no compacted
#     copy of the store (mdb_copy -c), and `asylink audit verify` passes,
#     online and offline on that copy;
#   - `asylink purge --reason` warns that its reason stays in the audit
#     trail for good, and its --help says so.
#
#   tests/integration/80-ops-erasure-reasons.sh ASYLINKD ASYLINK ASYLINK-PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v mdb_copy >/dev/null || { echo "80-ops-erasure-reasons needs mdb_copy (lmdb-utils)" >&2; exit 1; }
command -v jq >/dev/null || { echo "80-ops-erasure-reasons needs jq" >&2; exit 1; }
make_federation || exit 1

PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_broker_ini "$PORT"
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"
sed -i 's|^\[limits\]$|[limits]\nmax_deliveries = 5\nredelivery_backoff = 100ms|' "$CONF"
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
# uuid HEX: 32 hex digits as 8-4-4-4-12.
uuid() { echo "${1:0:8}-${1:8:4}-${1:12:4}-${1:16:4}-${1:20:12}"; }
# compacted NAME: a compacting copy of the (running) broker's store in $T/NAME; prints the data file.
compacted() {
  rm -rf "$T/$1"
  mkdir -p "$T/$1"
  mdb_copy -c "$T/data" "$T/$1" && echo "$T/$1/data.mdb"
}
# records KIND: the export's records of KIND by FR, one JSON object a line.
records() { jq -c "select(.type==\"record\" and .kind_name==\"$1\" and .actor==\"FR\")" "$T/export.jsonl"; }

start_broker || exit 1

NAME="Ahmed$RANDOM$RANDOM"
REASON="applicant $NAME X. not known here"
DIGEST=$(python3 -c 'import hashlib, sys
print(hashlib.blake2b(b"asylink.audit.reason.v1" + sys.argv[1].encode(), digest_size=32).hexdigest())' "$REASON")

echo "== FR refuses a direct and a feed message, giving a reason that names a person"
peer DE send --to FR --count 1 --ids-out "$T/direct.ids" --timeout 30 >/dev/null 2>"$T/send.err"
check_eq "DE sent FR one message" "$(lines "$T/direct.ids")" 1
peer DE publish --topic stats.monthly.DE --count 1 --class PUBLIC --ids-out "$T/feed.ids" \
  --timeout 30 >/dev/null 2>"$T/publish.err"
check_eq "DE published one feed message" "$(lines "$T/feed.ids")" 1
peer FR hostile --case nack-reason --reason "$REASON" --topic stats --timeout 30 \
  >"$T/nack.out" 2>"$T/nack.err"
check_eq "FR Nacked it to retry and to the dead letters, and the feed delivery (exit 0)" "$?" 0
check "it says so" grep -qE '^NACKED retry=[0-9]+ dead=[0-9]+ feed=[1-9][0-9]*$' "$T/nack.out"

total=0
for _ in $(seq 50); do
  a dlq list --config "$T/OPS.ini" --json >"$T/dlq.json" 2>/dev/null
  total=$(jq .total "$T/dlq.json" 2>/dev/null)
  [[ $total == 1 ]] && break
  sleep 0.2
done
check_eq "the direct message is a dead letter" "$total" 1
check_eq "the dead letter keeps the reason (it is erased with the message)" \
  "$(jq -r '.entries[0].reason' "$T/dlq.json")" "$REASON"
F=$(compacted copy-before)
check "the reason is in a compacted copy of the store before the purge (the dead letter)" \
  grep -qa "$NAME" "$F"

echo "== the audit trail keeps the code, the size and the digest, never the text"
a audit export --config "$T/OPS.ini" --out "$T/export.jsonl" 2>"$T/export.err"
check_eq "audit export exits 0" "$?" 0
check_eq "NACKED records of FR: the direct retry and the feed Nack" "$(records NACKED | wc -l)" 2
check_eq "one DEAD_LETTERED record of FR" "$(records DEAD_LETTERED | wc -l)" 1
for kind in NACKED DEAD_LETTERED; do
  check_eq "$kind: code NOT_FOUND, the reason's size and digest (hashlib), no detail" \
    "$(records $kind | jq -r '[.code, .reason_size, .reason_digest_hex, (if (.detail // "") == "" then "none" else .detail end)] | join(" ")' | sort -u)" \
    "ERROR_CODE_NOT_FOUND ${#REASON} $DIGEST none"
done
check_eq "the feed Nack's record names its subscription" \
  "$(records NACKED | jq -r 'select(.subscription=="reasons") | .reason_digest_hex')" "$DIGEST"
check "no exported line holds the reason's text" bash -c "! grep -q '$NAME' '$T/export.jsonl'"
a audit tail --config "$T/OPS.ini" --count 1000 >"$T/tail.out" 2>&1
check "audit tail shows the refusals' reason as its size and digest" \
  grep -q "DEAD_LETTERED .* code=NOT_FOUND reason=${#REASON}-bytes:$DIGEST\$" "$T/tail.out"
check "and never the text" bash -c "! grep -q '$NAME' '$T/tail.out'"
a audit reason-digest --text "$REASON" >"$T/rd.out" 2>&1
check_eq "asylink audit reason-digest computes the same from the text, with no broker" \
  "$(cat "$T/rd.out")" "reason=${#REASON}-bytes:$DIGEST"
check "which audit tail shows for FR's refusals" grep -qF "$(cat "$T/rd.out")" "$T/tail.out"
a audit reason-digest --text "$(printf 'two\nlines')" >/dev/null 2>&1
check_eq "a reason no Nack can carry (a control character) is a usage error" "$?" 2
check "the broker's log never holds the reason" bash -c "! grep -qa '$NAME' '$BROKER_LOG'"

echo "== a purge of both messages erases the reason from the store"
D=$(uuid "$(cat "$T/direct.ids")")
P=$(uuid "$(cat "$T/feed.ids")")
a purge --config "$T/OPS.ini" --id "$D" --sender DE --reference DPO-2026-0080 --json \
  >"$T/purge1.json" 2>"$T/purge1.err"
check_eq "purge of the dead-lettered message: found, one dead letter" \
  "$(jq -c '[.found, .dead_letters]' "$T/purge1.json")" "[true,1]"
a purge --config "$T/OPS.ini" --id "$P" --sender DE --json >"$T/purge2.json" 2>"$T/purge2.err"
check_eq "purge of the feed message: found, one feed entry" \
  "$(jq -c '[.found, .topic_entries]' "$T/purge2.json")" "[true,1]"
F=$(compacted copy-after)
check "the reason is in no compacted copy of the store after the purge" \
  bash -c "! grep -qa '$NAME' '$F'"
a audit verify --config "$T/OPS.ini" >"$T/verify.out" 2>&1
check_eq "audit verify passes" "$?" 0
a audit verify --data "$T/copy-after" --trust "$FED/trust" >"$T/verify-off.out" 2>&1
check_eq "and offline on the compacted copy" "$?" 0

echo "== the operator's purge reason is permanent: the CLI says so"
check "a purge without --reason gives no warning" bash -c "! grep -q 'stays in the audit trail' '$T/purge1.err'"
a purge --config "$T/OPS.ini" --id 0190aaaa-bbbb-7ccc-8ddd-eeeeffff0080 --sender IT \
  --reason "erasure request" >"$T/purge3.out" 2>"$T/purge3.err"
check_eq "a purge with --reason exits 0" "$?" 0
check "and warns once that the reason stays in the audit trail for good" \
  test "$(grep -c 'note: the --reason text stays in the audit trail for good' "$T/purge3.err")" -eq 1
a purge --help >"$T/purge-help.out" 2>&1
check "purge --help warns against personal data in --reason" \
  bash -c "tr -s ' \n' '  ' <'$T/purge-help.out' | grep -q 'so never put personal data in them'"

stop_broker
check_eq "the broker stops cleanly" "$?" 0
summary
