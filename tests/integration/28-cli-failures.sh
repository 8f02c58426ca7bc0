#!/usr/bin/env bash
# Failures are loud and say what to do (issue 13), through the real CLI and
# broker:
#   1. the broker is down: recv, subscribe, send --wait, publish and
#      receipts --wait exit 1 saying "cannot reach broker at tcp://..."
#      (send without --wait queues the message, exit 0, and says why);
#   2. the broker refuses the node: a certificate it does not know (XX), one
#      it holds revoked (IT, whose own trust directory is older), a client
#      holding another broker's certificate: each says so, not TIMEOUT;
#   3. client errors name the file, node or key and the fix, once: missing
#      certificate, key file mode (and the broker's own key's: its log line
#      says chmod 600 too), unknown recipient, invalid node id, missing
#      configuration, a payload over the limit;
#   4. the broker's log lines stay valid logfmt with a path holding spaces,
#      quotes and '=' (a strict parser reads the path back).
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
write_node_ini DE
write_node_ini FR
write_node_ini EUAA.ANALYSIS
ADDR="tcp://127.0.0.1:$PORT"

# once FILE PATTERN: FILE has exactly one line, and it matches PATTERN.
once() { [[ $(lines "$1") == 1 ]] && grep -qE -- "$2" "$1"; }
# says DESC FILE PATTERN: the check, showing FILE when it fails.
says() {
  if once "$2" "$3"; then pass "$1"; else fail "$1"; show "$2"; fi
}

echo "== 1. the broker is down"
"$ASYLINK" recv --config "$T/FR.ini" --idle 2 >"$T/recv.out" 2>"$T/recv.err"
check_eq "recv exits 1" "$?" 1
says "recv says it cannot reach the broker, naming the address" "$T/recv.err" \
  "^asylink: recv: UNAVAILABLE: cannot reach broker at $ADDR"
check_eq "and prints no message" "$(lines "$T/recv.out")" 0

"$ASYLINK" subscribe --config "$T/EUAA.ANALYSIS.ini" --prefix stats --subscription down \
  --idle 2 >/dev/null 2>"$T/sub.err"
check_eq "subscribe exits 1" "$?" 1
says "subscribe says it cannot reach the broker" "$T/sub.err" \
  "^asylink: subscribe: .*UNAVAILABLE: cannot reach broker at $ADDR"

printf 'note\n' >"$T/note.txt"
"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  --wait 3 >"$T/send-wait.out" 2>"$T/send-wait.err"
check_eq "send --wait exits 3: stored in the outbox, not taken" "$?" 3
says "send --wait says it cannot reach the broker, and that the message waits" "$T/send-wait.err" \
  "^asylink: send: UNAVAILABLE: cannot reach broker at $ADDR.*stays in this node's outbox and goes the next time a client opens its data_dir .do not send it again"
check "and not the bare TIMEOUT" bash -c "! grep -q TIMEOUT '$T/send-wait.err'"

"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  --timeout 2 >"$T/send.out" 2>"$T/send.err"
check_eq "send without --wait queues it (exit 0)" "$?" 0
says "... with a note saying why it has not gone" "$T/send.err" \
  "^asylink: note: cannot reach broker at $ADDR.*stays in this node's outbox"
QUEUED=$(head -n 1 "$T/send.out")

"$ASYLINK" receipts --config "$T/DE.ini" --message "$QUEUED" --wait 2 >/dev/null 2>"$T/rc.err"
check_eq "receipts --wait exits 1" "$?" 1
says "receipts --wait says it cannot reach the broker" "$T/rc.err" \
  "^asylink: receipts: UNAVAILABLE: cannot reach broker at $ADDR"

"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --file "$T/note.txt" \
  --type text/plain --timeout 3 >/dev/null 2>"$T/pub.err"
check_eq "publish exits 3 (stored in the outbox, not taken)" "$?" 3
says "publish says it cannot reach the broker" "$T/pub.err" \
  "^asylink: publish: UNAVAILABLE: cannot reach broker at $ADDR"
printf '{"reporting_country": "DE"}\n{"reporting_country": "DE"}\n' >"$T/two.jsonl"
"$ASYLINK" publish --config "$T/DE.ini" --topic stats.monthly.DE --type asylink.v1.MonthlyStatistics \
  --payload "$T/two.jsonl" --lines --timeout 3 >/dev/null 2>"$T/pub-lines.err"
check_eq "publish --lines exits 3" "$?" 3
says "... saying it cannot reach the broker" "$T/pub-lines.err" \
  "^asylink: publish: UNAVAILABLE: cannot reach broker at $ADDR"

echo "== 2. the broker refuses the node"
start_broker || exit 1
"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  --wait 20 >/dev/null 2>"$T/de-up.err"
check_eq "with the broker up DE's next send is accepted (and the queued ones go with it)" "$?" 0
"$ASYLINK" recv --config "$T/FR.ini" --count 3 --idle 20 >/dev/null 2>"$T/fr.err"
check_eq "FR receives all three (recv exits 0)" "$?" 0
"$ASYLINK" receipts --config "$T/DE.ini" --message "$QUEUED" --wait 20 >/dev/null 2>"$T/rc-up.err"
check_eq "and DE gets FR's receipt for the message queued while the broker was down" "$?" 0

# XX: a certificate of our CA that the broker's trust directory does not hold.
sed "s#^node_cert = .*#node_cert = $FED/outsider/XX.cert#; s#^key_file = .*#key_file = $FED/keys/XX.key#; s#node-FR#node-XX#" \
  "$T/FR.ini" >"$T/XX.ini"
"$ASYLINK" recv --config "$T/XX.ini" --idle 2 >/dev/null 2>"$T/xx.err"
check_eq "an unknown node's recv exits 1" "$?" 1
says "it says the broker refused node XX, and what the operator does" "$T/xx.err" \
  "^asylink: recv: REFUSED: the broker at $ADDR refused node XX: it does not know .*trust directory"
"$ASYLINK" send --config "$T/XX.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  --wait 3 >/dev/null 2>"$T/xx-send.err"
check_eq "its send --wait exits 3 (the message waits in its outbox)" "$?" 3
says "... saying REFUSED, not TIMEOUT" "$T/xx-send.err" "^asylink: send: REFUSED: .*refused node XX"

# IT is revoked; the broker reloads; IT's own trust directory still has the old list.
cp -r "$FED/trust" "$T/trust-IT"
write_node_ini IT
sed -i "s#^trust_dir = .*#trust_dir = $T/trust-IT#" "$T/IT.ini"
"$ASYLINK" ca revoke --dir "$FED/ca" --cert "$FED/trust/nodes/IT.cert" --reason "integration test" \
  </dev/null >/dev/null 2>&1
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
kill -HUP "$BROKER_PID"
wait_for "$BROKER_LOG" 'trust and policy reloaded' 10
"$ASYLINK" recv --config "$T/IT.ini" --idle 2 >/dev/null 2>"$T/it.err"
check_eq "a revoked node's recv exits 1" "$?" 1
says "it says the broker refused node IT" "$T/it.err" "^asylink: recv: REFUSED: .*refused node IT"

# A client holding another broker's certificate: the CURVE handshake fails.
(cd "$FED" && "$ASYLINK" keygen --id BROKER.TWO --name "another broker" --roles broker --dir keys \
  </dev/null >/dev/null && "$ASYLINK" ca sign --dir ca --request keys/BROKER.TWO.csr \
  --out certs/BROKER.TWO.cert --valid-days 30 </dev/null >/dev/null)
sed "s#^broker_cert = .*#broker_cert = $FED/certs/BROKER.TWO.cert#" "$T/FR.ini" >"$T/FR-wrong.ini"
"$ASYLINK" recv --config "$T/FR-wrong.ini" --idle 2 >/dev/null 2>"$T/wrong.err"
check_eq "with another broker's certificate recv exits 1" "$?" 1
says "it says the CURVE handshake failed and suspects broker_cert" "$T/wrong.err" \
  "^asylink: recv: PROTOCOL: the CURVE handshake with $ADDR failed: broker_cert"

echo "== 3. client errors name the file, node or key and the fix, once"
sed "s#^node_cert = .*#node_cert = $T/no such.cert#" "$T/DE.ini" >"$T/DE-nocert.ini"
"$ASYLINK" recv --config "$T/DE-nocert.ini" --idle 1 >/dev/null 2>"$T/e1.err"
check_eq "a missing certificate: exit 1" "$?" 1
says "... names its path and the option" "$T/e1.err" \
  "^asylink: recv: NOT_FOUND: node certificate $T/no such.cert does not exist \(node_cert"

cp "$FED/keys/DE.key" "$T/DE-open.key"
chmod 644 "$T/DE-open.key"
sed "s#^key_file = .*#key_file = $T/DE-open.key#" "$T/DE.ini" >"$T/DE-mode.ini"
"$ASYLINK" send --config "$T/DE-mode.ini" --to FR --file "$T/note.txt" --content-type text/plain \
  >/dev/null 2>"$T/e2.err"
check_eq "a key file others may read: exit 1" "$?" 1
# One wording (keys_file_hint) in the library, the CLI and the broker.
KEYS_HINT="must be a regular file, not a symbolic link, owned by the user running this program and closed to everyone else: chmod 600"
says "... names the file and says chmod 600" "$T/e2.err" \
  "^asylink: send: KEY_PERMISSIONS: secret key file $T/DE-open.key $KEYS_HINT $T/DE-open.key\$"
printf '[node]\nbroker_cert = %s\nnode_cert = %s\nkey_file = %s\n' "$FED/trust/nodes/BROKER.EU.cert" \
  "$FED/trust/nodes/DE.cert" "$T/DE-open.key" >"$T/admin-open.ini"
"$ASYLINK" nodes --config "$T/admin-open.ini" >/dev/null 2>"$T/e2c.err"
check_eq "the CLI's own key loading (an admin command): exit 1" "$?" 1
says "... in the same words" "$T/e2c.err" "KEY_PERMISSIONS: a secret file $KEYS_HINT $T/DE-open.key\$"

# The broker's own key: its log line names the same fix as the CLI's.
cp "$FED/keys/BROKER.EU.key" "$T/broker-open.key"
chmod 644 "$T/broker-open.key"
sed "s#^key = .*#key = $T/broker-open.key#" "$CONF" >"$T/broker-mode.ini"
"$ASYLINKD" --config "$T/broker-mode.ini" --check-config >/dev/null 2>"$T/e2b.err" </dev/null
check_eq "asylinkd --check-config with a key others may read: exit 2 (configuration)" "$?" 2
check "... logs KEY_PERMISSIONS with the same hint" grep -qE -- \
  "msg=\"cannot load the broker key\" path=$T/broker-open.key code=KEY_PERMISSIONS hint=\"the key file $KEYS_HINT $T/broker-open.key\"\$" "$T/e2b.err"
head -c 5000 /dev/zero | tr '\0' x >"$T/broker-big.key"
chmod 600 "$T/broker-big.key"
sed "s#^key = .*#key = $T/broker-big.key#" "$CONF" >"$T/broker-big.ini"
"$ASYLINKD" --config "$T/broker-big.ini" --check-config >/dev/null 2>"$T/e2d.err" </dev/null
check_eq "asylinkd --check-config with a key file of 5,000 bytes: exit 2" "$?" 2
check "... logs TOO_LARGE with its size and the limit" grep -qE -- \
  "msg=\"cannot load the broker key\" path=$T/broker-big.key code=TOO_LARGE hint=\"5000 bytes, more than the limit of 4096 bytes \\(4 KiB\\) for a secret key file\"\$" "$T/e2d.err"

"$ASYLINK" send --config "$T/DE.ini" --to FR,NL --file "$T/note.txt" --content-type text/plain \
  >/dev/null 2>"$T/e3.err"
check_eq "an unknown recipient: exit 1" "$?" 1
says "... names it and where it was looked for" "$T/e3.err" \
  "^asylink: send: UNKNOWN_RECIPIENT: unknown recipient NL: no certificate for it in $FED/trust/nodes"

"$ASYLINK" send --config "$T/DE.ini" --to fr --file "$T/note.txt" --content-type text/plain \
  >/dev/null 2>"$T/e4.err"
check_eq "an invalid node id: exit 1" "$?" 1
says "... names it and gives the rule" "$T/e4.err" \
  "^asylink: send: BAD_NODE_ID: recipient fr is not a valid node id \(2 to 64 characters of A-Z 0-9"

"$ASYLINK" recv --config "$T/missing.ini" >/dev/null 2>"$T/e5.err"
check_eq "a missing configuration file: exit 1" "$?" 1
says "... names its path" "$T/e5.err" \
  "^asylink: recv: CONFIG: node configuration $T/missing.ini: No such file or directory"

head -c $((32 * 1024 * 1024 + 1)) /dev/zero >"$T/big.bin"
"$ASYLINK" send --config "$T/DE.ini" --to FR --file "$T/big.bin" --content-type application/octet-stream \
  >/dev/null 2>"$T/e6.err"
check_eq "a payload over 32 MiB: exit 1" "$?" 1
says "... TOO_LARGE with the size and the limit" "$T/e6.err" \
  "^asylink: send: TOO_LARGE: payload of 33554433 bytes is larger than the limit of 33554432 bytes"
rm -f "$T/big.bin"

echo "== 4. the broker's log is valid logfmt whatever its values hold"
# A strict logfmt reader: key=value pairs, bare or quoted with \" \\ \n \r \t \xHH.
cat >"$T/logfmt.py" <<'PY'
import re, sys
PAIR = re.compile(r' *([^ ="\x00-\x1f\x7f]+)=("(?:[^"\\\x00-\x1f\x7f]|\\["\\nrt]|\\x[0-9a-fA-F]{2})*"|[^ ="\x00-\x1f\x7f]*)(?= |$)')
def parse(line):
    out, pos = {}, 0
    while pos < len(line):
        m = PAIR.match(line, pos)
        if not m:
            raise ValueError("not logfmt at %d: %r" % (pos, line))
        k, v = m.group(1), m.group(2)
        if v.startswith('"'):
            v = re.sub(r'\\x([0-9a-fA-F]{2})|\\(.)', lambda e: chr(int(e.group(1), 16)) if e.group(1)
                       else {'n': '\n', 'r': '\r', 't': '\t'}.get(e.group(2), e.group(2)), v[1:-1])
        out.setdefault(k, v)
        pos = m.end()
    return out
want = sys.argv[2]
found = False
for line in open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().splitlines():
    pairs = parse(line)
    if pairs.get("path") == want:
        found = True
print("found" if found else "missing")
PY
WEIRD="$T/keys dir/broker \"main\" key=1.key"
mkdir -p "$T/keys dir"
sed "s#^key = .*#key = $WEIRD#" "$CONF" >"$T/broker-weird.ini"
"$ASYLINKD" --config "$T/broker-weird.ini" >/dev/null 2>"$T/weird.err" </dev/null
rc=$?
check_eq "asylinkd refuses to start without its key (exit non-zero)" "$([[ $rc -ne 0 ]] && echo yes)" yes
check_eq "every line parses as logfmt and gives the path back exactly" \
  "$(python3 "$T/logfmt.py" "$T/weird.err" "$WEIRD" 2>&1)" found
check "the running broker's log parses too" python3 "$T/logfmt.py" "$BROKER_LOG" x

summary
