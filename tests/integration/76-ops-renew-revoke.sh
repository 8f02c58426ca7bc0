#!/usr/bin/env bash
# An operator's certificate renewal and revocation, as the documents tell
# it (OPERATIONS.md section 12, "Renewing a certificate"), through the real
# CLI and broker:
#   1. `ca sign` over an existing certificate file refuses (EXISTS) and says
#      how to renew: the new certificate beside the old one;
#   2. renewed so, a message DE signed under its old certificate before the
#      renewal and one under the new one are both received by FR;
#   3. renewed by replacing the file that holds the certificate DE signed a
#      waiting message under (--force), FR's library refuses that message:
#      `asylink recv` says so on stderr (code, message id, sender, which
#      certificate is missing) and exits 1 instead of 0 and silence, and
#      the dead letter's reason at the broker names the certificate;
#   4. a revocation: the broker's reload says how many sessions it closed,
#      and its refusals of the revoked node's reconnections name the node
#      and the certificate serial, not only the peer address.
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
PORT=$(free_port)
ADMIN_PORT=$(free_port)
write_broker_ini "$PORT"
sed -i "s|^admin_endpoint =.*|admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT|" "$CONF"

# node_ini ID CERT [TRUST]: $T/ID.ini with that certificate file and trust directory.
node_ini() {
  cat >"$T/$1.ini" <<EOF
[node]
broker_endpoint = tcp://127.0.0.1:$PORT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $2
key_file = $FED/keys/$1.key
trust_dir = ${3:-$FED/trust}
data_dir = $T/node-$1
admin_endpoint = tcp://127.0.0.1:$ADMIN_PORT
EOF
}
node_ini DE "$FED/trust/nodes/DE.cert"
node_ini FR "$FED/trust/nodes/FR.cert"
node_ini OPS "$FED/trust/nodes/OPS.cert"
printf 'note\n' >"$T/note.txt"

# send_de: DE sends FR a note and waits for the broker's answer; prints the id.
send_de() {
  "$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain \
    --class LIMITED --wait 20 2>>"$T/send.err" | head -n 1
}
# reload: SIGHUP, then wait for the broker's reload line number $1.
reload() {
  kill -HUP "$BROKER_PID"
  wait_for_count "$BROKER_LOG" 'msg="trust and policy reloaded"' "$1" 10
}
# wait_for_count FILE PATTERN N SECONDS: FILE holds N lines matching PATTERN.
wait_for_count() {
  local i=0
  while [[ $i -lt $(($4 * 10)) ]]; do
    [[ $(grep -c -- "$2" "$1" 2>/dev/null) -ge $3 ]] && return 0
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}
serial_of() { "$ASYLINK" cert show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])'; }

check "broker starts" start_broker

echo "== 1. ca sign over an existing certificate says how to renew"
NEXT=$(cat "$FED/ca/serial")
"$ASYLINK" ca sign --dir "$FED/ca" --request "$FED/keys/DE.csr" --out "$FED/trust/nodes/DE.cert" \
  >"$T/sign.out" 2>"$T/sign.err"
check_eq "ca sign onto DE.cert exits 1" "$?" 1
check "it says EXISTS and to write the renewed certificate beside it" \
  grep -q "^asylink: $FED/trust/nodes/DE.cert: EXISTS: already exists, not overwritten. To renew DE's certificate, write the new one beside it (--out $FED/trust/nodes/DE.$NEXT.cert) and keep this one" "$T/sign.err"
check_eq "and took no serial" "$(cat "$FED/ca/serial")" "$NEXT"

echo "== 2. renewed beside the old certificate: nothing is lost"
OLD_SERIAL=$(serial_of "$FED/trust/nodes/DE.cert")
ID1=$(send_de)
check "DE sends FR a message under its first certificate (serial $OLD_SERIAL)" test -n "$ID1"
"$ASYLINK" ca sign --dir "$FED/ca" --request "$FED/keys/DE.csr" \
  --out "$FED/trust/nodes/DE.$NEXT.cert" >/dev/null 2>&1
check_eq "the CA issues DE.$NEXT.cert beside DE.cert" "$?" 0
check "the broker reloads" reload 1
node_ini DE "$FED/trust/nodes/DE.$NEXT.cert"
ID2=$(send_de)
check "DE sends under its renewed certificate (serial $NEXT)" test -n "$ID2"
"$ASYLINK" recv --config "$T/FR.ini" --json --idle 4 >"$T/recv1.out" 2>"$T/recv1.err"
check_eq "FR's recv exits 0" "$?" 0
check "FR receives the message signed under the old certificate" grep -q "\"$ID1\"" "$T/recv1.out"
check "... and the one signed under the new" grep -q "\"$ID2\"" "$T/recv1.out"
check_eq "and says nothing on stderr" "$(lines "$T/recv1.err")" 0

echo "== 3. renewed by replacing the certificate a waiting message was signed under"
ID3=$(send_de)
check "DE sends under serial $NEXT" test -n "$ID3"
"$ASYLINK" ca sign --dir "$FED/ca" --request "$FED/keys/DE.csr" --force \
  --out "$FED/trust/nodes/DE.$NEXT.cert" >/dev/null 2>&1
check_eq "ca sign --force replaces DE.$NEXT.cert" "$?" 0
check "the broker reloads" reload 2
"$ASYLINK" recv --config "$T/FR.ini" --json --idle 4 >"$T/recv2.out" 2>"$T/recv2.err"
check_eq "FR's recv exits 1" "$?" 1
check_eq "it prints no message" "$(lines "$T/recv2.out")" 0
check "it names the refused message, its sender and the missing certificate" \
  grep -q "^asylink: recv: WRONG_KEY: message $ID3 from DE refused: signed under DE's certificate serial $NEXT, which is not in this node's trust directory.*; dead-lettered at the broker$" "$T/recv2.err"
check "and ends saying where the message is" \
  grep -q "^asylink: recv: 1 message refused (above): each direct one is in the broker's dead letters (asylink dlq list)" "$T/recv2.err"
[[ $failed -eq 0 ]] || show "$T/recv2.err"
"$ASYLINK" dlq list --config "$T/OPS.ini" --json >"$T/dlq.json" 2>"$T/dlq.err"
check_eq "dlq list exits 0" "$?" 0
check "the dead letter's reason names the certificate" python3 - "$T/dlq.json" "$ID3" "$NEXT" <<'PY'
import json, sys
ok = [r for r in json.load(open(sys.argv[1]))["entries"]
      if r["message_id"] == sys.argv[2] and r["code"].endswith("WRONG_KEY")
      and f"DE's certificate serial {sys.argv[3]}," in r["reason"]]
sys.exit(0 if ok else 1)
PY
[[ $failed -eq 0 ]] || show "$T/dlq.json"

echo "== 4. a revocation: the broker names what it closes and refuses"
cp -R "$FED/trust" "$T/fr-trust" # FR's own copy, not yet told of the revocation
node_ini FR "$T/fr-trust/nodes/FR.cert" "$T/fr-trust"
FR_SERIAL=$(serial_of "$FED/trust/nodes/FR.cert")
FR_SESSIONS=$(grep -c 'msg="session opened" node=FR' "$BROKER_LOG")
"$ASYLINK" recv --config "$T/FR.ini" --idle 30 >"$T/recv3.out" 2>"$T/recv3.err" </dev/null &
RECV_PID=$!
PIDS+=("$RECV_PID")
check "FR's session opens" \
  wait_for_count "$BROKER_LOG" 'msg="session opened" node=FR' $((FR_SESSIONS + 1)) 10
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/trust/nodes/FR.cert" --reason "key compromise" \
  >/dev/null 2>&1
check_eq "the CA revokes FR" "$?" 0
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
check "the broker reloads" reload 3
check "its reload line says it closed FR's session" \
  grep -q 'msg="trust and policy reloaded" certificates=[0-9]* sessions=[0-9]* sessions_dropped=1$' "$BROKER_LOG"
check "its refusal of FR's reconnection names FR and the serial" \
  wait_for "$BROKER_LOG" "msg=\"connection refused\" node=FR serial=$FR_SERIAL peer=127.0.0.1 code=REVOKED" 10
[[ $failed -eq 0 ]] || show "$BROKER_LOG"
kill -TERM "$RECV_PID" 2>/dev/null
wait_pid "$RECV_PID" 10

check "broker stops cleanly on SIGTERM" stop_broker
summary
