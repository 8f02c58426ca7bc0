#!/usr/bin/env bash
# A receipt whose signer's certificate is revoked after it arrived
# (DESIGN-CHANGES 60): DE sends to FR through a real broker, FR
# acknowledges, DE holds FR's receipt. Then FR's certificate is revoked in
# DE's trust directory. The receipt stays listed, but `asylink receipts`
# says its signer is revoked (JSON signer_revoked), `--wait` no longer
# reports "every recipient has it" (REVOKED, exit 1), exporting the receipt
# or the evidence bundle warns, and the checks that refuse it
# (`receipts --verify`, `evidence verify`) agree: REVOKED.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
start_broker || exit 1
write_node_ini DE
write_node_ini FR
# DE's own copy of the trust directory, where FR is revoked later (the broker and FR keep theirs).
cp -r "$FED/trust" "$T/de-trust"
sed -i "s|^trust_dir = .*|trust_dir = $T/de-trust|" "$T/DE.ini"

echo "== DE sends, FR acknowledges, DE holds FR's receipt"
cat >"$T/request.json" <<'JSON'
{"request_id": "DE-2026-000771", "requesting_state": "DE", "requested_state": "FR",
 "legal_basis": "LEGAL_BASIS_DUBLIN_III_ART_34", "applicantReference": "PSEUDO-71",
 "applicant": {"family_name": "Doe", "given_names": "Jane", "birth_year": 1990}}
JSON
"$ASYLINK" send --config "$T/DE.ini" --to FR --type asylink.v1.InformationRequest \
  --payload "$T/request.json" --wait 30 >"$T/send.out" 2>"$T/send.err"
check_eq "send exits 0" "$?" 0
ID=$(sed -n 1p "$T/send.out")
"$ASYLINK" recv --config "$T/FR.ini" --count 1 --idle 30 >"$T/recv.out" 2>"$T/recv.err"
check_eq "FR receives and acknowledges" "$?" 0
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --wait 30 >"$T/rc1.out" 2>"$T/rc1.err"
check_eq "receipts --wait: every recipient has it (exit 0)" "$?" 0
check "... FR delivered, no revocation mentioned" \
  bash -c "grep -q '^FR  *delivered ' '$T/rc1.out' && ! grep -q revoked '$T/rc1.out'"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --export FR --out "$T/fr1.bin" \
  >/dev/null 2>"$T/exp1.err"
check_eq "FR's receipt exports (exit 0)" "$?" 0
check "... without a warning" bash -c "! grep -q warning '$T/exp1.err'"

echo "== FR's certificate is revoked in DE's trust directory"
FR_SERIAL=$("$ASYLINK" cert show "$FED/trust/nodes/FR.cert" --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')
cp -r "$FED/ca" "$T/ca-copy"
"$ASYLINK" ca revoke --dir "$T/ca-copy" --serial "$FR_SERIAL" --reason "key compromise" \
  </dev/null >/dev/null 2>"$T/revoke.err"
check_eq "the CA revokes FR's certificate (serial $FR_SERIAL) in a copy" "$?" 0
cp "$T/ca-copy/revoked.crl" "$T/de-trust/revoked.crl"

"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" >"$T/rc2.out" 2>"$T/rc2.err"
check_eq "receipts still lists FR's receipt (exit 0)" "$?" 0
check "... marked: signer's certificate revoked since" \
  grep -q "^FR  *delivered .*signer's certificate revoked since" "$T/rc2.out"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --json >"$T/rc2.json" 2>&1
check "... JSON signer_revoked true" python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["receipts"]; sys.exit(not (len(r)==1 and r[0]["recipient"]=="FR" and r[0]["signer_revoked"] is True))' "$T/rc2.json"

START=$SECONDS
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --wait 30 >"$T/rc3.out" 2>"$T/rc3.err"
check_eq "receipts --wait no longer says every recipient has it (exit 1)" "$?" 1
check "... without waiting for the 30 s" test $((SECONDS - START)) -lt 20
check "... REVOKED at once, saying delivery is not proven" \
  grep -q "REVOKED: $ID: a receipt is signed under a certificate revoked since" "$T/rc3.err"
"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --wait 30 --json >"$T/rc3.json" 2>/dev/null
check "... JSON complete false" python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["complete"] is not False)' "$T/rc3.json"

"$ASYLINK" receipts --config "$T/DE.ini" --message "$ID" --export FR --out "$T/fr2.bin" \
  >/dev/null 2>"$T/exp2.err"
check_eq "FR's receipt still exports (exit 0)" "$?" 0
check "... with a warning that it does not verify" grep -q "warning: .*revoked since.*REVOKED" "$T/exp2.err"
"$ASYLINK" receipts --config "$T/DE.ini" --verify "$T/fr2.bin" --message "$ID" >/dev/null 2>"$T/ver.err"
check_eq "receipts --verify refuses it (exit 1)" "$?" 1
check "... REVOKED" grep -q "REVOKED" "$T/ver.err"

"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/case.zip" \
  >"$T/ev.out" 2>"$T/ev.err"
check_eq "evidence export writes the bundle (exit 0)" "$?" 0
check "... warning that FR's receipt is signed under a revoked certificate" \
  grep -q "warning: FR's receipt is signed under a certificate revoked since.*REVOKED" "$T/ev.err"
"$ASYLINK" evidence export --config "$T/DE.ini" --message "$ID" --out "$T/case2.zip" --json \
  >"$T/ev.json" 2>/dev/null
check "... JSON signers_revoked [FR]" python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j["signers_revoked"]==["FR"] and j["rejected_by"]==[] and j["receipts_from"]==["FR"]))' "$T/ev.json"
mkdir -p "$T/court"
cp "$FED/trust/ca.cert" "$T/court/"
"$ASYLINK" evidence verify "$T/case.zip" --trust "$T/court" >"$T/check.out" 2>"$T/check.err"
check_eq "evidence verify refuses the bundle (exit 1)" "$?" 1
check "... REVOKED, naming FR's receipt" grep -q "REVOKED: .*receipts/FR.bin" "$T/check.err"

summary
