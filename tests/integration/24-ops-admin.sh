#!/usr/bin/env bash
# 24-ops-admin.sh — the broker's operator admin endpoint and the CLI
# commands that use it: a member-state certificate is refused there (ZAP,
# domain asylink-admin); OPS lists nodes and queues; messages that FR never
# acknowledges are dead-lettered (max_deliveries = 1) and show in
# `asylink dlq list`; `dlq replay` puts one back and FR receives it; `dlq
# drop` removes another; unknown ids are NOT_FOUND; `reload` works and a
# broken policy makes it fail with the reason while the broker keeps its
# state; stats and topics answer; hostile bytes on the admin socket are answered or cut off and the
# broker keeps serving both endpoints.
#
#   tests/integration/24-ops-admin.sh ASYLINKD ASYLINK ASYLINK-PEER
source "$(dirname "$0")/lib.sh"
lib_init "$@"
make_federation || exit 1
write_broker_ini
# Both endpoints on ephemeral ports (write_broker_ini: endpoint = tcp://127.0.0.1:*): they
# never clash, each bind gets a free port of its own.
sed -i "s|^admin_endpoint =\$|admin_endpoint = tcp://127.0.0.1:*|" "$CONF"
sed -i 's|^\[limits\]$|[limits]\nmax_deliveries = 1|' "$CONF"
start_broker || exit 1
ADMIN=$(sed -n 's/.*admin on \(tcp:[^ ]*\).*/\1/p' "$T/broker.$BROKER_N.out" | head -n 1)
check "the broker reports its admin endpoint ($ADMIN)" test -n "$ADMIN"
check "both endpoints ephemeral: the ready lines name the ports bound ($ENDPOINT, $ADMIN)" \
  bash -c "[[ '$ENDPOINT' =~ ^tcp://127\.0\.0\.1:[0-9]+\$ && '$ADMIN' =~ ^tcp://127\.0\.0\.1:[0-9]+\$ && '$ENDPOINT' != '$ADMIN' ]]"
check_eq "\"listening on\" is the last line (ready: every socket bound)" \
  "$(cut -d' ' -f3,4 "$T/broker.$BROKER_N.out" | tr '\n' '|')" "admin on|listening on|"

# ops_ini NODE: $T/NODE.ini, a node configuration with admin_endpoint.
ops_ini() {
  cat >"$T/$1.ini" <<INI
[node]
broker_endpoint = $ENDPOINT
broker_cert = $FED/trust/nodes/BROKER.EU.cert
node_cert = $FED/trust/nodes/$1.cert
key_file = $FED/keys/$1.key
trust_dir = $FED/trust
data_dir = $T/node-$1
admin_endpoint = $ADMIN
INI
}
ops_ini OPS
ops_ini DE
# json_get FILE EXPR: a Python expression over the JSON value j in FILE.
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }
a() { "$ASYLINK" "$@" </dev/null; }

echo "== who may use the admin endpoint"
# The CLI checks node_cert's roles itself: the broker would refuse DE at
# ZAP without an answer, so the CLI would wait out the whole --timeout.
t0=$(date +%s)
a nodes --config "$T/DE.ini" --timeout 8 >"$T/de-nodes.out" 2>"$T/de-nodes.err"
check_eq "DE (member_state) is refused by the CLI: exit 1" "$?" 1
check "at once, not after --timeout 8" test $(($(date +%s) - t0)) -lt 4
check "the CLI says why (ROLE, DE's role, operator needed)" \
  grep -q "^asylink: nodes: ROLE: DE's certificate .*DE.cert has the role member_state, not operator: the admin commands need an operator's certificate" "$T/de-nodes.err"
check "once" test "$(wc -l <"$T/de-nodes.err")" -eq 1
check "without asking the broker" bash -c "! grep -q 'node=DE' '$BROKER_LOG'"
got=$(peer DE connect-only --broker "$ADMIN" --timeout 2 2>/dev/null)
check_eq "a member-state peer gets no session at the admin endpoint" "$got" NO_ANSWER
check "the broker refused DE at ZAP" grep -q 'admin connection refused: not an operator.*node=DE' "$BROKER_LOG"
got=$(peer OPS hostile --case bad-version --broker "$ADMIN" --timeout 5 2>/dev/null)
check_eq "OPS cannot open a client session there (Hello is not an AdminRequest)" "$got" "ERROR PROTOCOL"
got=$(peer OPS connect-only --timeout 5 2>/dev/null)
check_eq "OPS still opens a session at the client endpoint" "$got" WELCOME

echo "== certs-example/OPS.ini"
# It names certs-example's operator certificate and key, which belong together,
# and works as shipped (relative paths) in a directory laid out as certs-example.
EX="$SOURCE_ROOT/certs-example"
ini_get() { sed -n "s#^$1 = ##p" "$EX/OPS.ini"; }
check_eq "OPS.ini: node_cert is the operator OPS's certificate" "$(ini_get node_cert)" trust/nodes/OPS.cert
check_eq "OPS.ini: key_file is OPS's key" "$(ini_get key_file)" keys/OPS.key
check_eq "OPS.ini: admin_endpoint is broker.ini's" "$(ini_get admin_endpoint)" \
  "$(sed -n 's#^admin_endpoint = ##p' "$EX/broker.ini")"
mkdir -p "$T/ex"
cp "$EX/keys/OPS.key" "$T/ex/OPS.key" && chmod 600 "$T/ex/OPS.key"
check "certs-example's OPS certificate, key and trust directory agree" \
  "$ASYLINK" cert verify "$EX/$(ini_get node_cert)" --trust "$EX/$(ini_get trust_dir)" --key "$T/ex/OPS.key"
check "... and the certificate has the role operator" \
  bash -c "'$ASYLINK' cert show '$EX/$(ini_get node_cert)' | grep -qE '^roles +operator\$'"
cp "$EX/OPS.ini" "$FED/OPS.ini"
a nodes --config "$FED/OPS.ini" --admin "$ADMIN" --json >"$T/ex-nodes.json" 2>"$T/ex-nodes.err"
check_eq "OPS.ini as shipped, beside this federation's keys/ and trust/: nodes answers" \
  "$(json_get "$T/ex-nodes.json" 'len(j["nodes"])')" 7

echo "== operator certificates the broker does not admit fail at once, saying why"
# new_ops ID [ca sign options]: a key and operator certificate ID signed by
# the federation's CA but not in the broker's trust directory, and $T/ID.ini.
new_ops() {
  local id=$1
  shift
  (cd "$FED" && "$ASYLINK" keygen --id "$id" --name "$id" --roles operator --dir keys &&
    "$ASYLINK" ca sign --dir ca --request "keys/$id.csr" --out "certs/$id.cert" "$@") \
    </dev/null >/dev/null 2>&1
  ops_ini "$id"
  sed -i "s#^node_cert = .*#node_cert = $FED/certs/$id.cert#" "$T/$id.ini"
}
new_ops OPS2 --valid-days 30
t0=$(date +%s)
a nodes --config "$T/OPS2.ini" --timeout 8 >/dev/null 2>"$T/ops2.err"
check_eq "an operator certificate unknown to the broker: exit 1" "$?" 1
check "at once (the ZAP refusal seen by the socket monitor), not after --timeout 8" \
  test $(($(date +%s) - t0)) -lt 4
check "REFUSED, naming the certificate and the fix" grep -qE \
  "^asylink: nodes: REFUSED: the broker at $ADMIN refused OPS2's certificate $FED/certs/OPS2.cert \(serial [0-9]+\): .*trust directory.*SIGHUP\$" \
  "$T/ops2.err"
check "once" test "$(wc -l <"$T/ops2.err")" -eq 1

new_ops OPS3 --valid-days 1 --not-before 2020-01-01
a nodes --config "$T/OPS3.ini" --timeout 8 >/dev/null 2>"$T/ops3.err"
check_eq "an expired operator certificate: exit 1" "$?" 1
check "CERT_EXPIRED from the CLI itself, with the date and the fix" grep -q \
  "^asylink: nodes: CERT_EXPIRED: OPS3's certificate $FED/certs/OPS3.cert (serial [0-9]*) expired on 2020-01-02T00:00:00Z, .*ask the CA for a new operator certificate" \
  "$T/ops3.err"
check "without asking the broker" bash -c "! grep -q 'OPS3' '$BROKER_LOG'"

new_ops OPS4 --valid-days 30
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/certs/OPS4.cert" --reason test </dev/null >/dev/null 2>&1
mkdir -p "$T/trust-ops4" && cp -R "$FED/trust/." "$T/trust-ops4/" && cp "$FED/ca/revoked.crl" "$T/trust-ops4/"
sed -i "s#^trust_dir = .*#trust_dir = $T/trust-ops4#" "$T/OPS4.ini"
a nodes --config "$T/OPS4.ini" --timeout 8 >/dev/null 2>"$T/ops4.err"
check_eq "a revoked operator certificate (trust_dir has the new revocation list): exit 1" "$?" 1
check "REVOKED from the CLI itself, naming the trust directory" grep -q \
  "^asylink: nodes: REVOKED: OPS4's certificate $FED/certs/OPS4.cert (serial [0-9]*) is revoked by the revocation list of trust directory $T/trust-ops4" \
  "$T/ops4.err"

echo "== nodes and queues"
a nodes --config "$T/OPS.ini" --json >"$T/nodes.json" 2>"$T/nodes.err"
check_eq "nodes --json exits 0" "$?" 0
check_eq "it lists the 7 nodes of the trust directory" \
  "$(json_get "$T/nodes.json" 'len(j["nodes"])')" 7
check_eq "sorted by node id" "$(json_get "$T/nodes.json" '",".join(n["node_id"] for n in j["nodes"])')" \
  "BROKER.EU,DE,EUAA,EUAA.ANALYSIS,FR,IT,OPS"
check_eq "with roles, in the words of the table and the docs" \
  "$(json_get "$T/nodes.json" '[n["roles"] for n in j["nodes"] if n["node_id"]=="OPS"][0]')" \
  "['operator']"
check_eq "every role a role word (member_state, not ROLE_MEMBER_STATE)" \
  "$(json_get "$T/nodes.json" 'sorted({r for n in j["nodes"] for r in n["roles"]})')" \
  "['agency', 'analyst', 'broker', 'member_state', 'operator']"
a nodes --config "$T/OPS.ini" >"$T/nodes.out" 2>&1
check "the human table has a row per node" grep -qE '^FR +member_state' "$T/nodes.out"
a nodes --config "$T/OPS.ini" --connected --json >"$T/nodes-c.json" 2>&1
check_eq "--connected lists only connected nodes (at most OPS's session, if not closed yet)" \
  "$(json_get "$T/nodes-c.json" 'all(n["connected"] for n in j["nodes"]) and set(n["node_id"] for n in j["nodes"]) <= {"OPS"}')" True

N=3
peer DE send --to FR --count $N --ids-out "$T/de.ids" --timeout 30 >/dev/null 2>"$T/de-send.err"
check_eq "DE sent $N messages to FR" "$(lines "$T/de.ids")" $N
a queues --config "$T/OPS.ini" --node FR --json >"$T/q.json" 2>"$T/q.err"
check_eq "queues --node FR: $N waiting" "$(json_get "$T/q.json" 'j["queues"][0]["depth"]')" $N
a queues --config "$T/OPS.ini" --non-empty >"$T/q.out" 2>&1
check_eq "queues --non-empty shows only FR" "$(grep -cE '^[A-Z]' "$T/q.out")" 2
check "its row" grep -qE "^FR +no +$N " "$T/q.out"
a queues --config "$T/OPS.ini" --json >"$T/q-all.json" 2>&1
check_eq "queues lists the member nodes only, as /status.json and /metrics (26-ops-http-status)" \
  "$(json_get "$T/q-all.json" '",".join(n["node_id"] for n in j["queues"])')" "DE,EUAA,EUAA.ANALYSIS,FR,IT"
a queues --config "$T/OPS.ini" --node OPS --json >"$T/q-ops.json" 2>&1
check_eq "queues --node OPS still answers the internal node's (empty) row" \
  "$(json_get "$T/q-ops.json" '[(n["node_id"], n["depth"]) for n in j["queues"]]')" "[('OPS', 0)]"
a queues --config "$T/OPS.ini" --node NOBODY >/dev/null 2>"$T/q-nf.err"
check_eq "queues --node of an unknown node exits 1" "$?" 1
check "with NOT_FOUND" grep -q NOT_FOUND "$T/q-nf.err"

echo "== dead letters"
peer FR recv --count $N --no-ack --timeout 30 >/dev/null 2>"$T/fr-noack.err"
total=0
for _ in $(seq 50); do
  a dlq list --config "$T/OPS.ini" --json >"$T/dlq.json" 2>"$T/dlq.err"
  total=$(json_get "$T/dlq.json" 'j["total"]')
  [[ $total == "$N" ]] && break
  sleep 0.2
done
check_eq "FR's $N unacknowledged deliveries are dead letters (max_deliveries 1)" "$total" $N
check_eq "each names FR and the sender DE" \
  "$(json_get "$T/dlq.json" '",".join(sorted(set(e["recipient"]+"/"+e["sender"] for e in j["entries"])))')" "FR/DE"
check_eq "--json spells message ids as recv --json does (UUID text)" \
  "$(json_get "$T/dlq.json" 'all(__import__("re").fullmatch("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", e["message_id"]) for e in j["entries"])')" True
json_get "$T/dlq.json" '"\n".join(e["message_id"].replace("-", "") for e in j["entries"])' \
  >"$T/dlq.ids"
check "they are the messages DE sent" same_set "$T/dlq.ids" "$T/de.ids"
a dlq list --config "$T/OPS.ini" --limit 1 --offset 1 --json >"$T/dlq-page.json" 2>&1
check_eq "--limit 1 --offset 1: one entry, the second newest" \
  "$(json_get "$T/dlq-page.json" 'len(j["entries"]), j["entries"][0]["id"]')" \
  "$(json_get "$T/dlq.json" '1, j["entries"][1]["id"]')"
a dlq list --config "$T/OPS.ini" >"$T/dlq.out" 2>&1
check "the human list shows them" grep -q "(3 shown of 3 dead letters)" "$T/dlq.out"
check "with the same message ids as --json" grep -q " $(json_get "$T/dlq.json" 'j["entries"][0]["message_id"]') " "$T/dlq.out"
ID1=$(json_get "$T/dlq.json" 'j["entries"][0]["id"]')
HEX1=$(json_get "$T/dlq.json" 'j["entries"][0]["message_id"].replace("-", "")')
ID2=$(json_get "$T/dlq.json" 'j["entries"][1]["id"]')

a dlq replay --config "$T/OPS.ini" "$ID1" >"$T/replay.out" 2>"$T/replay.err"
check_eq "dlq replay $ID1 exits 0" "$?" 0
check "it reports one replayed" grep -q 'replayed 1 dead letter$' "$T/replay.out"
peer FR recv --count 1 --ids-out "$T/fr.ids" --timeout 30 >/dev/null 2>"$T/fr-recv.err"
check_eq "FR receives the replayed message" "$(cat "$T/fr.ids" 2>/dev/null)" "$HEX1"
a dlq drop --config "$T/OPS.ini" --node FR "$ID2" >"$T/drop.out" 2>"$T/drop.err"
check_eq "dlq drop --node FR $ID2 exits 0" "$?" 0
check "it reports one dropped" grep -q 'dropped 1 dead letter$' "$T/drop.out"
a dlq list --config "$T/OPS.ini" --node FR --json >"$T/dlq2.json" 2>&1
check_eq "one dead letter is left" "$(json_get "$T/dlq2.json" 'j["total"]')" 1
a dlq replay --config "$T/OPS.ini" --json "$ID2" >"$T/replay-nf.json" 2>"$T/replay-nf.err"
check_eq "replaying the dropped one exits 1" "$?" 1
check "NOT_FOUND naming the id, the command named once" \
  grep -q "^asylink: dlq replay: NOT_FOUND: no dead letter with ID $ID2\$" "$T/replay-nf.err"
check_eq "and --json lists it under not_found" "$(json_get "$T/replay-nf.json" 'j["not_found"]')" "[$ID2]"
a dlq replay --config "$T/OPS.ini" "$ID2" >"$T/replay-nf.out" 2>/dev/null
check_eq "the count line says why none was replayed: not found, not expired" \
  "$(cat "$T/replay-nf.out")" "replayed 0 dead letters (1 not found)"
a dlq drop --config "$T/OPS.ini" --all >/dev/null 2>"$T/drop-usage.err"
check_eq "dlq drop --all without --node is a usage error" "$?" 2
a dlq drop --config "$T/OPS.ini" --all --node FR >"$T/drop-all.out" 2>&1
check "dlq drop --all --node FR drops the last one" grep -q 'dropped 1 dead letter$' "$T/drop-all.out"
a dlq list --config "$T/OPS.ini" --json >"$T/dlq3.json" 2>&1
check_eq "no dead letters left" "$(json_get "$T/dlq3.json" 'j["total"]')" 0

echo "== reload"
a reload --config "$T/OPS.ini" >"$T/reload.out" 2>"$T/reload.err"
check_eq "reload exits 0" "$?" 0
check "it reports the nodes loaded" grep -q 'reloaded: 7 nodes' "$T/reload.out"
check "and the policy digest" grep -qE 'policy digest: [0-9a-f]{64}' "$T/reload.out"
check "the broker logged it as the operator's" grep -q 'operator=OPS op=reload result=OK' "$BROKER_LOG"
cp "$T/policy.ini" "$T/policy.good"
echo "this is not = [a policy" >>"$T/policy.ini"
a reload --config "$T/OPS.ini" >"$T/reload-bad.out" 2>"$T/reload-bad.err"
check_eq "reload with a broken policy exits 1" "$?" 1
check "and says why" grep -q 'reload failed, the old trust and policy stay' "$T/reload-bad.err"
cp "$T/policy.good" "$T/policy.ini"
a reload --config "$T/OPS.ini" --json >"$T/reload.json" 2>&1
check_eq "reload --json after the fix" "$(json_get "$T/reload.json" 'j["nodes"]')" 7

echo "== an internal node's queue shows once it holds something"
sed -i 's/^member_state = member_state, agency$/member_state = member_state, agency, operator/' \
  "$T/policy.ini"
a reload --config "$T/OPS.ini" >/dev/null 2>&1
peer DE send --to OPS --count 1 --ids-out "$T/de-ops.ids" --timeout 30 >/dev/null 2>&1
check_eq "a policy letting member states reach the operator: DE sent OPS 1" "$(lines "$T/de-ops.ids")" 1
a queues --config "$T/OPS.ini" --non-empty --json >"$T/q-ops2.json" 2>&1
check_eq "queues now lists OPS with its waiting message" \
  "$(json_get "$T/q-ops2.json" '[n["depth"] for n in j["queues"] if n["node_id"]=="OPS"]')" "[1]"
cp "$T/policy.good" "$T/policy.ini"
a reload --config "$T/OPS.ini" >/dev/null 2>&1

echo "== hostile input on the admin socket"
CASES=(
  "raw-garbage|ERROR MALFORMED"
  "no-hello|ERROR MALFORMED"
  "hello-wrong-id|ERROR PROTOCOL"
  "raw-bigframe|DISCONNECTED"
  "admin-stats|ADMIN_RESPONSE"
  "admin-topics|ADMIN_RESPONSE"
)
for entry in "${CASES[@]}"; do
  IFS='|' read -r name want <<<"$entry"
  got=$(peer OPS hostile --case "$name" --broker "$ADMIN" --timeout 5 2>"$T/h-$name.err")
  if [[ $got == "$want" || ($name == raw-bigframe && $got == NO_ANSWER) ]]; then
    pass "admin hostile $name -> $got"
  else
    fail "admin hostile $name: got '$got', wanted '$want'"
  fi
done
got=$(peer OPS hostile --case admin-stats --timeout 5 2>/dev/null)
check_eq "an AdminRequest on the client endpoint is a protocol error" "$got" "ERROR PROTOCOL"
check "the broker logged the topics request" \
  grep -q 'operator=OPS op=topics result=OK' "$BROKER_LOG"
check "the broker survived" kill -0 "$BROKER_PID"
a nodes --config "$T/OPS.ini" --json >"$T/nodes2.json" 2>&1
check_eq "the admin endpoint still answers" "$(json_get "$T/nodes2.json" 'len(j["nodes"])')" 7
peer DE send --to FR --count 1 --ids-out "$T/de2.ids" --timeout 30 >/dev/null 2>&1
check_eq "the client endpoint still serves" "$(lines "$T/de2.ids")" 1
check "no admin log line carries a payload-sized field" \
  bash -c "! grep '\"admin\"' '$BROKER_LOG' | grep -qE '.{2000}'"

echo "== CLI usage"
a nodes >/dev/null 2>"$T/u1.err"
check_eq "nodes without --config: exit 2" "$?" 2
a dlq replay --config "$T/OPS.ini" notanumber >/dev/null 2>&1
check_eq "dlq replay with a bad ID: exit 2" "$?" 2
a dlq --help >"$T/dlq-help.out" 2>&1
check "dlq --help lists list, replay, drop" grep -q replay "$T/dlq-help.out"
for bad in 'tcp://127.0.0.1:abc' 'tcp://127.0.0.1:0' 'tcp://a;b:7401' 'tcp://*:7401' \
  'tcp://127.0.0.1' 'http://127.0.0.1:7401'; do
  a reload --config "$T/OPS.ini" --admin "$bad" --timeout 1 >/dev/null 2>"$T/badep.err"
  check_eq "--admin $bad: refused before connecting, exit 2" "$?" 2
  check "... saying what an endpoint is" grep -q 'tcp://HOST:PORT or ipc://PATH' "$T/badep.err"
done
sed 's|^admin_endpoint *=.*|admin_endpoint = tcp://127.0.0.1:admin|' "$T/OPS.ini" >"$T/OPS-badep.ini"
grep -q '^admin_endpoint = tcp://127.0.0.1:admin' "$T/OPS-badep.ini" ||
  echo 'admin_endpoint = tcp://127.0.0.1:admin' >>"$T/OPS-badep.ini"
a reload --config "$T/OPS-badep.ini" --timeout 1 >/dev/null 2>"$T/badep.err"
check_eq "admin_endpoint of the configuration not an endpoint: CONFIG, exit 1" "$?" 1
check "... naming the file and the key" \
  grep -q "OPS-badep.ini: \[node\] admin_endpoint: expected tcp://HOST:PORT" "$T/badep.err"
a reload --config "$T/OPS.ini" --admin "tcp://127.0.0.1:1" --timeout 1 >/dev/null 2>"$T/dead.err"
check_eq "reload against a dead endpoint: exit 1" "$?" 1
check "asylink: reload: TIMEOUT: (the program named once, as OPERATIONS.md section 12)" \
  grep -q "^asylink: reload: TIMEOUT: no answer from tcp://127.0.0.1:1 " "$T/dead.err"

stop_broker
check_eq "the broker stops cleanly" "$?" 0
summary
