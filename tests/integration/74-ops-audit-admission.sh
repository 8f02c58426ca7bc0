#!/usr/bin/env bash
# 74-ops-audit-admission.sh — the audit trail records who was turned away at
# admission (ZAP) with a certificate of the trust directory:
#   - FR's certificate is revoked and the broker reloads; FR's three
#     connection attempts are refused, and the trail holds one AUTH_FAILED
#     record for them (FR, its serial, REVOKED, "connection refused at
#     admission (client endpoint)"), not one per attempt (at most one a
#     minute per certificate, code and endpoint);
#   - DE, a member state without the operator role, knocking at the admin
#     endpoint gets one AUTH_FAILED record (ROLE, admin endpoint);
#   - an outsider's key no certificate has (anyone can offer one) is refused
#     and left out of the trail;
#   - the trail still verifies.
#
#   tests/integration/74-ops-audit-admission.sh ASYLINKD ASYLINK ASYLINK-PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
command -v jq >/dev/null || { echo "74-ops-audit-admission needs jq" >&2; exit 1; }
make_federation || exit 1

PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_broker_ini "$PORT"
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"
# node_ini NODE: $T/NODE.ini with the admin endpoint.
node_ini() {
  cat >"$T/$1.ini" <<INI
[node]
broker_endpoint = tcp://127.0.0.1:$PORT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$1.cert
key_file = $FED/keys/$1.key
trust_dir = $FED/trust
data_dir = $T/node-$1
admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT
INI
}
node_ini OPS
serial_of() { "$ASYLINK" cert show "$1" --json | jq -r .serial; }
FR_SERIAL=$(serial_of "$FED/trust/nodes/FR.cert")
DE_SERIAL=$(serial_of "$FED/trust/nodes/DE.cert")
# auth_failed FILE ACTOR: the AUTH_FAILED records of ACTOR in an export, one JSON object a line.
auth_failed() {
  jq -c "select(.type==\"record\" and .kind_name==\"AUTH_FAILED\" and .actor==\"$2\")" "$1"
}

start_broker || exit 1
check "FR is admitted before its revocation" \
  test "$(peer FR connect-only --timeout 10 2>/dev/null)" = WELCOME

echo "== FR revoked: its attempts are refused, and recorded once"
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/trust/nodes/FR.cert" --reason "key compromise" \
  </dev/null >/dev/null 2>&1
check_eq "the CA revokes FR" "$?" 0
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
kill -HUP "$BROKER_PID"
check "the broker reloads" wait_for "$BROKER_LOG" 'msg="trust and policy reloaded"' 10
for i in 1 2 3; do
  peer FR connect-only --timeout 2 >"$T/fr.$i.out" 2>/dev/null
  check "FR gets no answer (attempt $i)" grep -qx NO_ANSWER "$T/fr.$i.out"
done
REFUSED=$(grep -c "msg=\"connection refused\" node=FR serial=$FR_SERIAL .*code=REVOKED" "$BROKER_LOG")
check_ge "the broker refused FR's attempts (its log)" "$REFUSED" 3

echo "== DE at the admin endpoint: not an operator"
# (asylink itself refuses to try without an operator certificate: a raw CURVE connection)
ENDPOINT=tcp://127.0.0.1:$ADMIN_PORT peer DE connect-only --timeout 2 >"$T/de.out" 2>/dev/null
check "DE gets no answer at the admin endpoint" grep -qx NO_ANSWER "$T/de.out"
check "the broker refused DE's admin connection (its log)" \
  wait_for "$BROKER_LOG" 'msg="admin connection refused: not an operator" node=DE' 10

echo "== an outsider's key"
peer XX connect-only --timeout 2 >/dev/null 2>&1
check "the broker refused the outsider's key (its log)" \
  grep -q 'msg="connection refused" peer=[^ ]* code=UNKNOWN_SENDER' "$BROKER_LOG"

echo "== the audit trail"
sleep 0.5 # the notes ride the next commit
"$ASYLINK" audit export --config "$T/OPS.ini" --out "$T/audit.jsonl" </dev/null 2>/dev/null
check "the export is written" test -s "$T/audit.jsonl"
auth_failed "$T/audit.jsonl" FR >"$T/fr.jsonl"
check_eq "one AUTH_FAILED record of FR for its $REFUSED refused attempts" "$(wc -l <"$T/fr.jsonl")" 1
check_eq "with FR's certificate serial" "$(jq -r .actor_cert_serial "$T/fr.jsonl")" "$FR_SERIAL"
check_eq "and the code REVOKED" "$(jq -r .code "$T/fr.jsonl")" "ERROR_CODE_REVOKED"
check "and what was refused where" \
  test "$(jq -r .detail "$T/fr.jsonl")" = "connection refused at admission (client endpoint): certificate revoked"
auth_failed "$T/audit.jsonl" DE >"$T/de.jsonl"
check_eq "one AUTH_FAILED record of DE" "$(wc -l <"$T/de.jsonl")" 1
check_eq "with DE's certificate serial" "$(jq -r .actor_cert_serial "$T/de.jsonl")" "$DE_SERIAL"
check_eq "and the code ROLE" "$(jq -r .code "$T/de.jsonl")" "ERROR_CODE_ROLE"
check "at the admin endpoint" grep -q '"detail":"connection refused at admission (admin endpoint): ' "$T/de.jsonl"
check_eq "no record of the outsider's key" "$(auth_failed "$T/audit.jsonl" XX | wc -l)" 0
"$ASYLINK" audit verify --config "$T/OPS.ini" </dev/null >/dev/null
check "the trail verifies" test $? -eq 0

check "broker stops cleanly on SIGTERM" stop_broker
summary
