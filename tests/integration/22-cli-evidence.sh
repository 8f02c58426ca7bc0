#!/usr/bin/env bash
# Evidence a third party can check: DE sends to FR through a real broker, FR
# acknowledges, DE exports the evidence bundle (asylink evidence export);
# asylink evidence verify accepts it offline with nothing but the CA
# certificate, and so does an independent Python checker (standard library
# + PyNaCl, no asylink code). Then every member of the bundle, the manifest
# and its signature are changed one at a time (and members removed and
# added): both checkers refuse each, and asylink names the member. A
# revoked sender certificate, another CA, a missing receipt and a node that
# keeps no sent envelopes are refused too. After DE switches to a new key,
# an export of a message sent before fails, saying the key was replaced
# (its receipts are encrypted to the old one), and the earlier bundle stays
# valid.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR
write_node_ini IT

# The Python with PyNaCl (Debian's python3-nacl, scripts/test.sh install_deps).
PY=""
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import nacl.bindings' 2>/dev/null; then PY=$p; break; fi
done
check "a python3 with PyNaCl is installed (python3-nacl)" test -n "$PY"
PYCHECK="$LIB_DIR/evidence_check.py"

# The checker's side: a directory with only the CA certificate (a court).
mkdir -p "$T/court"
cp "$FED/trust/ca.cert" "$T/court/"

cat >"$T/request.json" <<'JSON'
{"request_id": "DE-2026-000777", "requesting_state": "DE", "requested_state": "FR",
 "legal_basis": "LEGAL_BASIS_DUBLIN_III_ART_34", "applicantReference": "EVIDENCE-MARKER-4711",
 "applicant": {"family_name": "Doe", "given_names": "Jane", "birth_year": 1990}}
JSON

echo "== DE sends, FR acknowledges"
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send.out" 2>"$T/send.err"
check_eq "send exits 0" "$?" 0
ID=$(sed -n 1p "$T/send.out")
"$ASYLINK" recv --config "$T/FR.ini" --count 1 --idle 30 >"$T/recv.out" 2>"$T/recv.err"
check_eq "FR receives and acknowledges" "$?" 0
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --wait 30 >"$T/rc.out" 2>&1
check_eq "DE holds FR's receipt" "$?" 0

echo "== export"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/case.zip" \
  >"$T/export.out" 2>"$T/export.err"
check_eq "evidence export exits 0" "$?" 0
check "it names FR's receipt" grep -q "receipts from: FR" "$T/export.out"
check_eq "the bundle is private (0600)" "$(stat -c %a "$T/case.zip" 2>/dev/null)" 600
cp "$T/case.zip" "$T/case.orig"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/case.zip" \
  >/dev/null 2>"$T/export2.err"
check_eq "export does not overwrite (exit 1)" "$?" 1
check_eq "... in the CLI's error form, saying what to do" "$(cat "$T/export2.err")" \
  "asylink: evidence export: EXISTS: $T/case.zip exists: not overwritten (remove it, or choose another --out)"
check "the bundle was left as it was" cmp -s "$T/case.zip" "$T/case.orig"
check "the payload is not in the bundle (it stays encrypted)" \
  bash -c "! grep -q EVIDENCE-MARKER-4711 '$T/case.zip'"
"$ASYLINK" evidence export --config "$T/DE.ini" --message 01900000-0000-7000-8000-000000000000 \
  --out "$T/none.zip" >/dev/null 2>"$T/export3.err"
check_eq "a message DE never sent: exit 1" "$?" 1
check "... NOT_FOUND, no file" bash -c "grep -q NOT_FOUND '$T/export3.err' && [ ! -e '$T/none.zip' ]"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" >/dev/null 2>&1
check_eq "export without --out is a usage error" "$?" 2
"$ASYLINK" evidence export --config "$T/DE.ini" --id "$ID" --out "$T/old.zip" >/dev/null 2>"$T/old.err"
check_eq "--id is not an evidence option (--message is): usage error" "$?" 2
check "... naming it, no file" bash -c "grep -q -- '--id' '$T/old.err' && [ ! -e '$T/old.zip' ]"
"$ASYLINK" evidence export --config "$T/DE.ini" --message not-a-uuid --out "$T/old.zip" >/dev/null 2>"$T/bad.err"
check_eq "a --message that is no message id: usage error" "$?" 2
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/case2.zip" --json >"$T/export.json" 2>&1
check_eq "export --json exits 0" "$?" 0
check "... JSON naming the message, the file and FR's receipt" "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["message_id"]==sys.argv[2] and j["file"].endswith("case2.zip") and j["receipts_from"]==["FR"] and j["bytes"]>0))' "$T/export.json" "$ID"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/court" --config "$T/DE.ini" >/dev/null 2>&1
check_eq "verify takes no --config: usage error" "$?" 2
"$ASYLINK" evidence verify --trust "$T/court" >/dev/null 2>&1
check_eq "verify without FILE: usage error" "$?" 2

echo "== verify"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/court" >"$T/verify.out" 2>"$T/verify.err"
check_eq "evidence verify exits 0 with only the CA certificate" "$?" 0
sed 's/^/      | /' "$T/verify.out"
check "it says VALID" grep -q '^RESULT: VALID\. DE sent message '"$ID"' to FR' "$T/verify.out"
check "it names the sender and its certificate" grep -qE '^From +DE \(.*\), certificate serial [0-9]+' "$T/verify.out"
check "FR delivered, with the time of acknowledgement" grep -qE '^  FR +delivered: acknowledged 20' "$T/verify.out"
check "the sender's signature was checked" grep -qE '^  ok +message/envelope.bin: signed by DE .*signature valid' "$T/verify.out"
check "the receipt quotes exactly the envelope" grep -qE '^  ok +receipts/FR.bin: .*quotes exactly this envelope' "$T/verify.out"
check "no check failed" bash -c "! grep -q FAILED '$T/verify.out'"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$FED/trust" --json >"$T/verify.json" 2>&1
check_eq "verify --json against the node's own trust directory exits 0" "$?" 0
check_eq "JSON: valid" "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["valid"])' "$T/verify.json" 2>/dev/null)" True
"$PY" "$PYCHECK" "$T/case.zip" "$T/court/ca.cert" "$FED/trust/revoked.crl" >"$T/py.out" 2>&1
check_eq "the independent Python checker accepts it" "$?" 0
check "... VALID" grep -q "^VALID: DE sent $ID" "$T/py.out"
"$PY" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); sys.exit(z.testzip() is not None)' "$T/case.zip"
check_eq "Python's zipfile reads the bundle and every CRC-32 matches" "$?" 0
"$PY" -c 'import sys, zipfile; sys.exit(any(i.compress_type != zipfile.ZIP_STORED for i in zipfile.ZipFile(sys.argv[1]).infolist()))' "$T/case.zip"
check_eq "every member is stored (no compression)" "$?" 0

echo "== any change to any member makes both fail"
# tamper IN OUT MEMBER MODE: rewrites the bundle with one member changed
# (flip: one bit in the middle; drop: removed) or one added (add).
tamper() {
  "$PY" - "$@" <<'PY'
import sys, zipfile
src, dst, member, mode = sys.argv[1:5]
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
    for info in zin.infolist():
        data = bytearray(zin.read(info.filename))
        if info.filename == member:
            if mode == "drop":
                continue
            data[len(data) // 2] ^= 0x01
        zout.writestr(info.filename, bytes(data))
    if mode == "add":
        zout.writestr(member, b"an extra file\n")
PY
}
members=$("$PY" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$T/case.zip")
check "the bundle holds the manifest, its signature, the envelope, FR's receipt and key, the CA, DE's and FR's certificates and the revocation list" \
  bash -c "for m in manifest.json manifest.sig message/envelope.bin receipts/FR.bin receipts/FR.key certs/ca.cert revoked.crl; do grep -qx \"\$m\" <<<'$members' || exit 1; done; grep -qE '^certs/DE\.[0-9]+\.cert$' <<<'$members' && grep -qE '^certs/FR\.[0-9]+\.cert$' <<<'$members'"
n=0
for m in $members; do
  n=$((n + 1))
  tamper "$T/case.zip" "$T/t$n.zip" "$m" flip
  "$ASYLINK" evidence verify "$T/t$n.zip" --trust "$T/court" >"$T/t$n.out" 2>"$T/t$n.err"
  rc=$?
  # The member named first is the one changed (or, for the manifest, its signature).
  want=$m
  [[ $m == manifest.json ]] && want='manifest\.(json|sig)'
  if [[ $rc == 1 ]] && grep -qE "^asylink: evidence verify: [A-Z_]+: .* is not valid evidence: ($want|bundle): " "$T/t$n.err" \
     && grep -qE "FAILED +($want)" "$T/t$n.out"; then
    pass "changed $m: verify exits 1 and names it ($(sed -E 's/.*is not valid evidence: //' "$T/t$n.err" | cut -c1-110))"
  else
    fail "changed $m: verify exit $rc"; show "$T/t$n.err"; show "$T/t$n.out"
  fi
  "$PY" "$PYCHECK" "$T/t$n.zip" "$T/court/ca.cert" >"$T/t$n.py" 2>&1
  rc=$?
  if [[ $rc == 1 ]] && grep -q '^INVALID: ' "$T/t$n.py"; then
    pass "changed $m: the Python checker refuses it too ($(cut -c1-80 "$T/t$n.py"))"
  else
    fail "changed $m: Python checker exit $rc"; show "$T/t$n.py"
  fi
done
check_ge "every member was changed once" "$n" 9

# The manifest's content, changed and re-signed by nobody: a changed claim.
"$PY" - "$T/case.zip" "$T/claim.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as zin, zipfile.ZipFile(sys.argv[2], "w") as zout:
    for info in zin.infolist():
        data = zin.read(info.filename)
        if info.filename == "manifest.json":
            data = data.replace(b'"recipients":["FR"]', b'"recipients":["IT"]')
        zout.writestr(info.filename, data)
PY
"$ASYLINK" evidence verify "$T/claim.zip" --trust "$T/court" >"$T/claim.out" 2>"$T/claim.err"
check_eq "a manifest that names another recipient: exit 1" "$?" 1
check "... its signature no longer verifies" grep -qE 'FAILED +manifest.sig: the signature of DE' "$T/claim.out"
check "... and its claim differs from the signed envelope" grep -qE 'FAILED +manifest.json: its recipients differs' "$T/claim.out"

tamper "$T/case.zip" "$T/drop.zip" receipts/FR.bin drop
"$ASYLINK" evidence verify "$T/drop.zip" --trust "$T/court" >"$T/drop.out" 2>"$T/drop.err"
check_eq "a removed receipt: exit 1" "$?" 1
check "... named" grep -q 'receipts/FR.bin: listed in the manifest but not in the bundle' "$T/drop.err"
tamper "$T/case.zip" "$T/add.zip" notes.txt add
"$ASYLINK" evidence verify "$T/add.zip" --trust "$T/court" >"$T/add.out" 2>"$T/add.err"
check_eq "an added file: exit 1" "$?" 1
check "... named" grep -q 'notes.txt: in the bundle but not in the manifest' "$T/add.err"
"$PY" "$PYCHECK" "$T/add.zip" "$T/court/ca.cert" >/dev/null 2>&1
check_eq "... the Python checker agrees" "$?" 1
head -c 200 "$T/case.zip" >"$T/cut.zip"
"$ASYLINK" evidence verify "$T/cut.zip" --trust "$T/court" >/dev/null 2>"$T/cut.err"
check_eq "a truncated bundle: exit 1" "$?" 1
check "... not an evidence bundle" grep -q 'bundle: not an evidence bundle' "$T/cut.err"

echo "== trust: another CA, a revoked sender"
mkdir -p "$T/other"
(cd "$T/other" && "$ASYLINK" ca init --dir ca --id OTHER.CA --name "another CA" --valid-days 30 </dev/null >/dev/null)
mkdir -p "$T/other-trust"
cp "$T/other/ca/ca.cert" "$T/other-trust/"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/other-trust" >"$T/other.out" 2>"$T/other.err"
check_eq "under another CA: exit 1" "$?" 1
check "... UNTRUSTED_ISSUER, naming the CA certificate" grep -q 'UNTRUSTED_ISSUER: .*certs/ca.cert' "$T/other.err"

DE_SERIAL=$(sed -nE 's/^From +DE .*certificate serial ([0-9]+).*/\1/p' "$T/verify.out")
cp -r "$FED/ca" "$T/ca-copy"
"$ASYLINK" ca revoke --dir "$T/ca-copy" --serial "$DE_SERIAL" --reason "key compromise" </dev/null >/dev/null 2>"$T/revoke.err"
check_eq "the CA revokes DE's certificate (serial $DE_SERIAL) in a copy" "$?" 0
mkdir -p "$T/court2"
cp "$FED/trust/ca.cert" "$T/ca-copy/revoked.crl" "$T/court2/"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/court2" >"$T/rev.out" 2>"$T/rev.err"
check_eq "with a revocation list that revokes DE: exit 1" "$?" 1
check "... REVOKED, with the reason" grep -q 'REVOKED: .*revoked on .*key compromise' "$T/rev.err"
"$PY" "$PYCHECK" "$T/case.zip" "$T/court/ca.cert" "$T/ca-copy/revoked.crl" >"$T/rev.py" 2>&1
check_eq "... the Python checker agrees" "$?" 1

echo "== a message signed in a batch (send_many of 5, one Ed25519 signature over a Merkle root)"
ct --config "$T/DE.ini" send --to FR --count 5 --batch 5 --wait-accepted --ids-out "$T/batch.ids" \
  --timeout 30 >"$T/batch-send.out" 2>&1
check_eq "DE sends 5 as one batch" "$(wc -l <"$T/batch.ids" | tr -d ' ')" 5
ct --config "$T/FR.ini" recv --count 5 --ack-batch 5 --timeout 30 >"$T/batch-recv.out" 2>&1
check_eq "FR receives and acknowledges them" "$?" 0
BID=$(sed -n 3p "$T/batch.ids")
"$ASYLINK" receipts --config "$T/DE.ini" --message "$BID" --wait 30 >/dev/null 2>&1
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$BID" --out "$T/batch.zip" >/dev/null 2>&1
check_eq "the batched message's bundle is exported" "$?" 0
check "its envelope carries a batch proof (Envelope.batch, field 5)" "$PY" -c "
import sys, zipfile; sys.path.insert(0, '$LIB_DIR'); import evidence_check as e
z = zipfile.ZipFile('$T/batch.zip'); env = e.envelope(z.read('message/envelope.bin'))
sys.exit(0 if env['batch'] else 1)"
"$ASYLINK" evidence verify "$T/batch.zip" --trust "$T/court" >"$T/batch-verify.out" 2>&1
check_eq "asylink evidence verify accepts it" "$?" 0
"$PY" "$PYCHECK" "$T/batch.zip" "$T/court/ca.cert" >"$T/batch.py" 2>&1
check_eq "the Python checker walks the proof and accepts it" "$?" 0

echo "== a recipient without a receipt; a node that keeps no sent envelopes"
"$ASYLINK" send --config "$T/DE.ini" --to FR,IT --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send2.out" 2>"$T/send2.err"
ID2=$(sed -n 1p "$T/send2.out")
"$ASYLINK" recv --config "$T/FR.ini" --count 1 --idle 30 >/dev/null 2>&1
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID2" --wait 5 >/dev/null 2>&1
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID2" >"$T/rc2.out" 2>&1
check "DE holds FR's receipt only (the broker accepted the message)" \
  grep -q '1 receipt (incomplete: not every recipient has answered); broker: accepted$' "$T/rc2.out"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID2" --out "$T/partial.zip" >/dev/null 2>&1
check_eq "a bundle with FR's receipt and none from IT is exported" "$?" 0
"$ASYLINK" evidence verify "$T/partial.zip" --trust "$T/court" >"$T/partial.out" 2>"$T/partial.err"
check_eq "it does not verify (exit 1)" "$?" 1
check "... no receipt from IT" grep -q 'NOT_FOUND: .*no receipt from IT: delivery to IT is not proven' "$T/partial.err"
check "... while FR's delivery is shown proven" grep -qE '^  FR +delivered' "$T/partial.out"

echo "sent_retention = 3s" >>"$T/IT.ini"
"$ASYLINK" send --config "$T/IT.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send4.out" 2>"$T/send4.err"
ID4=$(sed -n 1p "$T/send4.out")
"$ASYLINK" evidence export --config "$T/IT.ini" --message "$ID4" --out "$T/kept.zip" >/dev/null 2>"$T/kept.err"
check_eq "IT (sent_retention = 3s) exports right after sending" "$?" 0
sleep 4
# Any use of the client runs the sweep when its I/O thread starts (then once a minute).
"$ASYLINK" recv --config "$T/IT.ini" --count 1 --idle 2 >/dev/null 2>&1
"$ASYLINK" evidence export --config "$T/IT.ini" --message "$ID4" --out "$T/swept.zip" >/dev/null 2>"$T/swept.err"
check_eq "after the retention the sweep removed the envelope: export exits 1" "$?" 1
check "... NOT_FOUND" grep -q 'NOT_FOUND' "$T/swept.err"
"$ASYLINK" receipts --config "$T/IT.ini" --message "$ID4" >"$T/swept-rc.out" 2>&1
check_eq "the message itself is still known to IT (its outbox record stays)" "$?" 0

sed -i '/^sent_retention/d' "$T/FR.ini"
echo "sent_retention = 0" >>"$T/FR.ini"
"$ASYLINK" send --config "$T/FR.ini" --to DE --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send3.out" 2>"$T/send3.err"
ID3=$(sed -n 1p "$T/send3.out")
"$ASYLINK" evidence export --config "$T/FR.ini" --message "$ID3" --out "$T/nokeep.zip" >/dev/null 2>"$T/nokeep.err"
check_eq "FR keeps no sent envelopes (sent_retention = 0): export exits 1" "$?" 1
check "... NOT_FOUND" grep -q 'NOT_FOUND' "$T/nokeep.err"
echo "sent_retention = 12" >>"$T/FR.ini"
"$ASYLINK" evidence export --config "$T/FR.ini" --message "$ID3" --out "$T/x.zip" >/dev/null 2>"$T/badconf.err"
check_eq "a retention without unit (or given twice) is a configuration error" "$?" 1
check "... CONFIG" grep -q 'CONFIG' "$T/badconf.err"

echo "== DE switches to a new key: its earlier receipts no longer open"
(cd "$FED" &&
  "$ASYLINK" keygen --id DE --name "DE, new key" --roles member_state --dir keys2 </dev/null >/dev/null &&
  "$ASYLINK" ca sign --dir ca --request keys2/DE.csr --out trust/nodes/DE.2.cert --valid-days 30 \
    </dev/null >/dev/null)
check_eq "a new key and certificate for DE, beside the old one" "$?" 0
sed -i "s|^node_cert = .*|node_cert = $FED/trust/nodes/DE.2.cert|; s|^key_file = .*|key_file = $FED/keys2/DE.key|" \
  "$T/DE.ini"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/rekeyed.zip" \
  </dev/null >/dev/null 2>"$T/rekeyed.err"
check_eq "an export of a message sent under the old key exits 1" "$?" 1
check "TAMPERED, saying the node's key was replaced, not that something was altered" \
  grep -q "^asylink: evidence export: TAMPERED: $ID: this node's key does not open a receipt it holds for it: the node's key was replaced since the message was sent (export evidence before a key switch" "$T/rekeyed.err"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/court" >/dev/null 2>&1
check_eq "the bundle exported before the switch still verifies" "$?" 0

for c in "evidence" "evidence export" "evidence verify"; do
  check "asylink $c --help" "$ASYLINK" $c --help
done
summary
