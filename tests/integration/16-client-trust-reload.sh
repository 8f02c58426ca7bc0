#!/usr/bin/env bash
# libasylink: a running client follows its trust directory. A node
# certificate copied in becomes usable, a revocation list naming FR stops
# DE's running client from sealing to FR, and an older revocation list put
# back is refused (STALE): FR stays revoked, also when DE's application is
# restarted (its store remembers the newest list it used). Node certificates
# that do not load (not a certificate, the CA's own) are left out, and both
# the broker and the client say which and why.
source "$(dirname "$0")/client_lib.sh"
client_init "$@"
printf 'not a certificate\n' >"$FED/trust/nodes/BAD.cert"
cp "$FED/trust/ca.cert" "$FED/trust/nodes/CA.cert"
start_broker || exit 1
write_node_ini DE
OUT="$T/watch.out"
for f in BAD CA; do
  check "the broker says nodes/$f.cert was left out" \
    grep -q "msg=\"node certificate left out\".*nodes/$f.cert" "$BROKER_LOG"
done
check "... BAD.cert as not a certificate" grep -q 'nodes/BAD.cert.* code=MALFORMED' "$BROKER_LOG"
check "... CA.cert for its role" grep -q 'nodes/CA.cert.* code=ROLE' "$BROKER_LOG"

ct --config "$T/DE.ini" trust-watch --expect XX:OK --expect FR:REVOKED \
  --expect FR:REVOKED:STALE --timeout 60 >"$OUT" 2>"$T/watch.err" &
W_PID=$!
PIDS+=("$W_PID")

# 1. a new node's certificate appears
wait_for "$OUT" 'ready step=1' 20
check "DE's client says nodes/BAD.cert was left out" \
  grep -q 'node certificate left out.*nodes/BAD.cert.* code=MALFORMED' "$T/watch.err"
check "... and nodes/CA.cert" grep -q 'node certificate left out.*nodes/CA.cert.* code=ROLE' "$T/watch.err"
cp "$FED/outsider/XX.cert" "$FED/trust/nodes/XX.cert.tmp"
mv "$FED/trust/nodes/XX.cert.tmp" "$FED/trust/nodes/XX.cert"
wait_for "$OUT" '^step=1 ' 30
check_eq "before: XX unknown to DE's client" "$(grep '^step=1 ' "$OUT" | sed 's/.*first=\([^ ]*\).*/\1/')" UNKNOWN_RECIPIENT
check_eq "after: DE's running client seals to XX" "$(grep '^step=1 ' "$OUT" | sed 's/.*result=\([^ ]*\).*/\1/')" OK

# 2. FR is revoked
wait_for "$OUT" 'ready step=2' 20
cp "$FED/trust/revoked.crl" "$T/old.crl"
(cd "$FED" && "$ASYLINK" ca revoke --dir ca --cert certs/FR.cert --reason "key compromise" \
  </dev/null >/dev/null) || echo "ca revoke failed" >&2
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl.tmp"
mv "$FED/trust/revoked.crl.tmp" "$FED/trust/revoked.crl"
wait_for "$OUT" '^step=2 ' 30
check_eq "before: DE's client sealed to FR" "$(grep '^step=2 ' "$OUT" | sed 's/.*first=\([^ ]*\).*/\1/')" OK
check_eq "after: DE's running client refuses FR as revoked" "$(grep '^step=2 ' "$OUT" | sed 's/.*result=\([^ ]*\).*/\1/')" REVOKED

# 3. the old list is put back: refused as STALE, FR stays revoked
wait_for "$OUT" 'ready step=3' 20
cp "$T/old.crl" "$FED/trust/revoked.crl.tmp"
mv "$FED/trust/revoked.crl.tmp" "$FED/trust/revoked.crl"
wait_for "$OUT" '^step=3 ' 30
check_eq "an older revocation list is refused" "$(grep '^step=3 ' "$OUT" | sed 's/.*reload=\([^ ]*\).*/\1/')" STALE
check_eq "FR stays revoked" "$(grep '^step=3 ' "$OUT" | sed 's/.*result=\([^ ]*\).*/\1/')" REVOKED
wait_pid "$W_PID" 30
check_eq "the watching client ran every step" "$?" 0
check "the refused reload was logged" grep -q 'trust directory not reloaded' "$T/watch.err"
cat "$OUT"

# 4. across a restart: DE's store remembers the list it used, so reopening
# with the older list on disk is refused; with the current one it works.
ct --config "$T/DE.ini" flush --timeout 10 >/dev/null 2>"$T/reopen.err"
check_eq "reopening DE with the older list fails" "$?" 1
check "... with STALE" grep -q 'open: STALE' "$T/reopen.err"
cp "$FED/ca/revoked.crl" "$FED/trust/revoked.crl"
ct --config "$T/DE.ini" trust-watch --expect FR:REVOKED --timeout 20 >"$T/reopen.out" 2>&1
check_eq "with the current list DE opens and FR is still revoked" "$?" 0
summary
